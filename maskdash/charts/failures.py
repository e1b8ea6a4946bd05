"""Figures of the Failure analysis page."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from maskdash.charts.base import CLASS_LABELS, run_color


# -- failure analysis -----------------------------------------------------------------------------
# Every figure takes {result name: table} in display order (the failure-analysis tables of
# maskdash.analysis) and draws one colour per model, the line style telling the true class.
# Every percentage carries its n (hover; bars also as text). Where bins hold very different
# numbers of faces (native widths, yaw, luma), a bin with fewer than MIN_N faces is drawn grey
# and off the line: one or two faces make 0 % or 100 % by chance. The sweeps (distance,
# lighting) put the same faces in every point, so their n is the same everywhere.
TRUTH_DASH = {"with_mask": "solid", "without_mask": "dot", "all": "solid"}
CLASS_COLORS = {"with_mask": "#2ecc71", "without_mask": "#e74c3c"}
MIN_N = 10
FEW_COLOR = "#b0b0b0"


def _study_layout(fig: go.Figure, title: str, x: str, y: str, height: int = 360, pct_y: bool = True) -> go.Figure:
    # the legend sits at the figure's bottom edge (container coordinates), below the axis title,
    # whatever room rotated tick labels take
    fig.update_layout(title=title, xaxis_title=x, yaxis_title=y, height=height + 60,
                      margin=dict(l=50, r=20, t=55, b=120),
                      legend=dict(orientation="h", yref="container", y=0, yanchor="bottom", x=0))
    if pct_y:  # start at 0 unless every value is high: then zoom in so small drops stay visible
        ys = [v for tr in fig.data for v in (tr.y if tr.y is not None else []) if v is not None and v == v]
        low = 0.0 if not ys or min(ys) < 0.6 or any(isinstance(tr, go.Bar) for tr in fig.data) else 0.5
        fig.update_yaxes(tickformat=".0%", range=[low, 1.02])
    return fig


def _pct_line(fig: go.Figure, x, y, n, name: str, color: str, dash: str = "solid", width: float = 2,
              split_few: bool = True) -> None:
    """One line of percentages with n in the hover; with `split_few`, points with n < MIN_N
    leave the line and are drawn as grey open markers (one legend entry for them all)."""
    x, y, n = list(x), list(y), [int(v) for v in n]
    ok = [(k >= MIN_N or not split_few) and v is not None and v == v for k, v in zip(n, y)]
    fig.add_trace(go.Scatter(x=x, y=[v if o else None for v, o in zip(y, ok)], mode="lines+markers", name=name,
                             customdata=n, hovertemplate="%{x}: %{y:.1%} (n=%{customdata})<extra>" + name + "</extra>",
                             line=dict(color=color, dash=dash, width=width)))
    few = [(a, b, k) for a, b, k, o in zip(x, y, n, ok) if not o and b is not None and b == b]
    if few:
        shown = any(tr.name == f"fewer than {MIN_N} faces" for tr in fig.data)
        fig.add_trace(go.Scatter(x=[a for a, _, _ in few], y=[b for _, b, _ in few], mode="markers",
                                 name=f"fewer than {MIN_N} faces", legendgroup="few", showlegend=not shown,
                                 marker=dict(color=FEW_COLOR, symbol="circle-open", size=8),
                                 customdata=[k for _, _, k in few],
                                 hovertemplate="%{x}: %{y:.1%} (only n=%{customdata})<extra>" + name + "</extra>"))


def _pct_bars(fig: go.Figure, x, y, n, name: str, color: str, hover: str = "%{y:.1%}", extra=None) -> None:
    """Bars of percentages, each labelled with its n; bars with n < MIN_N are faded (the model's
    colour kept, so the bar still says whose it is)."""
    n = [int(v) for v in n]
    custom = np.stack([n, *(extra or [])], axis=1) if extra else np.array(n)[:, None]
    fig.add_trace(go.Bar(x=list(x), y=list(y), name=name, marker_color=color,
                         marker_opacity=[1.0 if k >= MIN_N else 0.3 for k in n], customdata=custom,
                         text=[f"n={k}" for k in n], textposition="auto", textangle=0, cliponaxis=False,
                         hovertemplate="%{x}: " + hover + " (n=%{customdata[0]})<extra>" + name + "</extra>"))


def yaw_accuracy(bins: Mapping[str, pd.DataFrame]) -> go.Figure:
    """Accuracy per |yaw| bin (angles_bins rows of one source), grouped bars per model."""
    fig = go.Figure()
    for i, (name, b) in enumerate(bins.items()):
        a = b[b["truth"] == "all"]
        _pct_bars(fig, a["yaw_bin"], a["accuracy"], a["n"], name, run_color(name, i))
    fig.update_layout(barmode="group")
    return _study_layout(fig, "Accuracy by |yaw|", "|yaw|", "accuracy")


def yaw_p_mask(bins: Mapping[str, pd.DataFrame]) -> go.Figure:
    """Mean p(with_mask) per |yaw| bin, one line per model and true class."""
    fig = go.Figure()
    for i, (name, b) in enumerate(bins.items()):
        for cls in CLASS_LABELS:
            c = b[b["truth"] == cls]
            fig.add_trace(go.Scatter(x=c["yaw_bin"], y=c["mean_p_mask"], mode="lines+markers",
                                     name=f"{name} · truth {cls}", customdata=c["n"],
                                     line=dict(color=run_color(name, i), dash=TRUTH_DASH[cls]),
                                     hovertemplate="%{x}: %{y:.2f} (n=%{customdata})"))
    return _study_layout(fig, "Mean p(with_mask) by |yaw|", "|yaw|", "mean p(with_mask)")


def occluder_calls(tables: Mapping[str, pd.DataFrame]) -> go.Figure:
    """Share of unmasked faces called with_mask per object over the mouth (occluders_summary)."""
    fig = go.Figure()
    for i, (name, t) in enumerate(tables.items()):
        _pct_bars(fig, t["object"], t["called_with_mask"], t["n"], name, run_color(name, i),
                  "%{y:.1%} called with_mask, mean p=%{customdata[1]:.2f}", [t["mean_p_mask"]])
    fig.update_layout(barmode="group")
    return _study_layout(fig, "Share called “with mask” (truth: no mask)",
                         "object over mouth and nose ('none' = the same faces untouched)", "called with_mask")


def _width_ticks(fig: go.Figure, widths: Sequence[int]) -> go.Figure:
    return fig.update_xaxes(type="log", tickvals=list(widths), ticktext=[str(w) for w in widths])


def distance_accuracy(tables: Mapping[str, pd.DataFrame], widths: Sequence[int]) -> go.Figure:
    """Accuracy by the width a face was shrunk to (distance.csv, all faces), log x axis."""
    fig = go.Figure()
    for i, (name, t) in enumerate(tables.items()):
        a = t[t["truth"] == "all"]
        _pct_line(fig, a["width"], a["accuracy"], a["n"], name, run_color(name, i), split_few=False)
    return _width_ticks(_study_layout(fig, "Accuracy by face width", "face width (px, log scale)", "accuracy"), widths)


def distance_p_mask(tables: Mapping[str, pd.DataFrame], widths: Sequence[int]) -> go.Figure:
    """Mean p(with_mask) by face width, one line per model and true class."""
    fig = go.Figure()
    for i, (name, t) in enumerate(tables.items()):
        for cls in CLASS_LABELS:
            c = t[t["truth"] == cls]
            fig.add_trace(go.Scatter(x=c["width"], y=c["mean_p_mask"], mode="lines+markers", name=f"{name} · truth {cls}",
                                     customdata=c["n"], hovertemplate="%{x} px: %{y:.2f} (n=%{customdata})",
                                     line=dict(color=run_color(name, i), dash=TRUTH_DASH[cls])))
    fig = _study_layout(fig, "Mean p(with_mask) by face width", "face width (px, log scale)", "mean p(with_mask)")
    return _width_ticks(fig, widths)


def native_widths(sizes: pd.DataFrame, split: str) -> go.Figure:
    """Histogram of the files' native widths in one split, per class (native_sizes.csv)."""
    fig = go.Figure()
    for cls in CLASS_LABELS:
        d = sizes[(sizes["split"] == split) & (sizes["truth"] == cls)]
        fig.add_trace(go.Bar(x=d["size_bin"], y=d["count"], name=cls, marker_color=CLASS_COLORS[cls]))
    fig.update_layout(barmode="group")
    return _study_layout(fig, f"Native width of the {split} images", "width (px)", "images", pct_y=False)


def native_accuracy(tables: Mapping[str, pd.DataFrame]) -> go.Figure:
    """Accuracy on the full Test split by the file's native width (native_accuracy.csv)."""
    fig = go.Figure()
    # drawn last to first, so the first model's lines lie on top where both reach 100 % (the
    # shipped model's were hidden under the seed's); the legend keeps the tables' order
    for i, (name, t) in reversed(list(enumerate(tables.items()))):
        for cls in reversed(CLASS_LABELS):
            c = t[t["truth"] == cls]
            _pct_line(fig, c["size_bin"], c["accuracy"], c["n"], f"{name} · truth {cls}", run_color(name, i),
                      TRUTH_DASH[cls])
    fig = _study_layout(fig, "Full Test split: accuracy by the file's native width", "native width (px)", "accuracy")
    fig.update_layout(legend_traceorder="reversed")
    # bins in order of width, not in the order the traces first name them ("0–32", "32–48", …, "384+")
    bins = pd.unique(pd.concat([t["size_bin"].astype(str) for t in tables.values()])) if tables else []
    order = sorted(bins, key=lambda b: int("".join(ch for ch in b.split("–")[0] if ch.isdigit()) or 0))
    return fig.update_xaxes(type="category", categoryorder="array", categoryarray=order)


def lighting_accuracy(tables: Mapping[str, pd.DataFrame], kind: str, factors: Sequence[float]) -> go.Figure:
    """Accuracy by brightness or contrast factor (lighting.csv): all faces bold, each class thin."""
    dash = {"all": "solid", "with_mask": "dash", "without_mask": "dot"}
    fig = go.Figure()
    for i, (name, t) in enumerate(tables.items()):
        for cls in ("all", *CLASS_LABELS):
            c = t[(t["kind"] == kind) & (t["truth"] == cls)]
            _pct_line(fig, c["factor"], c["accuracy"], c["n"], f"{name} · {cls}", run_color(name, i), dash[cls],
                      3 if cls == "all" else 1.5, split_few=False)
    fig = _study_layout(fig, f"Accuracy by {kind} factor", f"{kind} × factor", "accuracy", height=440)
    return fig.update_xaxes(tickvals=list(factors))


def luma_accuracy(tables: Mapping[str, pd.DataFrame]) -> go.Figure:
    """Accuracy of real dev-scene faces by the mean luma of the face box (analysis.lighting
    .accuracy_by_luma), one bar group per model."""
    fig = go.Figure()
    for i, (name, t) in enumerate(tables.items()):
        t = t[t["n"] > 0]
        _pct_bars(fig, t["luma_bin"], t["accuracy"], t["n"], name, run_color(name, i))
    fig.update_layout(barmode="group")
    fig = _study_layout(fig, "Real dev-scene faces: accuracy by how bright the face is",
                        "mean luma of the face box (0 black … 255 white)", "accuracy")
    return fig.update_xaxes(type="category")


def share_bars(tables: Mapping[str, pd.DataFrame], x: str, titles: Mapping[str, str] | None = None,
               share: str = "called_with_mask", title: str = "Share called “with mask”",
               x_title: str = "", y_title: str = "called with_mask") -> go.Figure:
    """One share per group (column `x`) as grouped bars, one colour per model, each bar labelled
    with its n (the below-nose and hands tables)."""
    fig = go.Figure()
    for i, (name, t) in enumerate(tables.items()):
        t = t[t[share].notna()]
        labels = [(titles or {}).get(v, v) for v in t[x]]
        _pct_bars(fig, labels, t[share], t["n"], name, run_color(name, i),
                  "%{y:.1%}, mean p(with_mask)=%{customdata[1]:.2f}", [t["mean_p_mask"]])
    fig.update_layout(barmode="group")
    fig = _study_layout(fig, title, x_title, y_title)
    return fig.update_xaxes(type="category")


def dim_kept(tables: Mapping[str, pd.DataFrame], levels: Sequence[str]) -> go.Figure:
    """Share of Test faces keeping their label at each darkness level (dim_webcam_summary rows of
    source test), one line per model and true class."""
    fig = go.Figure()
    for i, (name, t) in enumerate(tables.items()):
        t = t[t["source"] == "test"]
        for cls in CLASS_LABELS:
            c = t[t["truth"] == cls].set_index("level").reindex([lv for lv in levels if lv in set(t["level"])])
            _pct_line(fig, c.index, c["kept_label"], c["n"].fillna(0), f"{name} · truth {cls}", run_color(name, i),
                      TRUTH_DASH[cls], split_few=False)
    fig = _study_layout(fig, "Test faces through a dim webcam: share keeping their label",
                        "darkness level ('original' = untouched)", "kept its label")
    return fig.update_xaxes(type="category")
