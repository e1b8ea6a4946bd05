"""Plotly figure builders for the dashboard: pure functions of pandas/numpy data → go.Figure.

Kept out of the pages so that they can be unit-tested and reused; nothing here reads files or
knows about Streamlit."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from maskdash.labels import CLASSES, INCORRECT, UNCERTAIN, WITH_MASK, WITHOUT_MASK

# One colour per training run, the same on every chart.
RUN_COLORS = {"robust": "#1f77b4", "seed": "#ff7f0e"}
_FALLBACK_COLORS = ["#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"]
CLASS_LABELS = CLASSES


def run_color(name: str, i: int = 0) -> str:
    return RUN_COLORS.get(name, _FALLBACK_COLORS[i % len(_FALLBACK_COLORS)])


def _layout(fig: go.Figure, title: str, x: str, y: str, height: int = 380) -> go.Figure:
    fig.update_layout(
        title=title, xaxis_title=x, yaxis_title=y, height=height,
        margin=dict(l=50, r=20, t=60, b=45), legend=dict(orientation="h", y=-0.22),
    )
    return fig


# -- Training


def epoch_ticks(last_epoch: int) -> list[int]:
    """Integer epoch ticks from 1 to `last_epoch`: every epoch up to 12, else 1, then every
    2nd/5th/10th epoch, and the last one, so that upright labels never crowd."""
    n = max(int(last_epoch), 1)
    step = next((s for s in (1, 2, 5, 10, 20, 50) if n / s <= 12), 100)
    ticks = [1, *range(step, n + 1, step)] if step > 1 else list(range(1, n + 1))
    return ticks if ticks[-1] == n else [*ticks, n]


def _epoch_axis(fig: go.Figure, histories: Mapping[str, pd.DataFrame]) -> go.Figure:
    last = max((int(h["epoch"].max()) for h in histories.values() if len(h)), default=1)
    fig.update_xaxes(tickmode="array", tickvals=epoch_ticks(last), tickangle=0, range=[0.5, last + 0.5])
    return fig


def training_curves(
    histories: Mapping[str, pd.DataFrame], metric: str, reference: float | None = None,
    reference_label: str = "original: 97.62 % val accuracy",
) -> go.Figure:
    """`metric` ("loss" or "accuracy") per epoch: train dashed, validation solid, one colour per
    run. `reference` draws a horizontal line (the original's reported accuracy)."""
    fig = go.Figure()
    for i, (name, h) in enumerate(histories.items()):
        color = run_color(name, i)
        for col, dash, label in ((metric, "dash", "train"), (f"val_{metric}", "solid", "validation")):
            if col not in h or h[col].isna().all():
                continue
            fig.add_trace(go.Scatter(
                x=h["epoch"], y=h[col], mode="lines+markers", name=f"{name} · {label}",
                line=dict(color=color, dash=dash), customdata=h.get("stage"),
                hovertemplate="epoch %{x}<br>%{y:.4f}<br>%{customdata}<extra>" + f"{name} {label}</extra>",
            ))
    if reference is not None:
        fig.add_hline(y=reference, line=dict(color="gray", dash="dot"),
                      annotation_text=reference_label, annotation_position="bottom right")
    title = {"loss": "Loss per epoch", "accuracy": "Accuracy per epoch"}.get(metric, metric)
    _layout(fig, title, "epoch", metric)
    if metric == "accuracy":
        fig.update_yaxes(tickformat=".0%")
    return _epoch_axis(fig, histories)


def learning_rate(histories: Mapping[str, pd.DataFrame]) -> go.Figure:
    """Learning rate per epoch as steps (log scale), so that each drop is visible."""
    fig = go.Figure()
    for i, (name, h) in enumerate(histories.items()):
        if "lr" not in h or h["lr"].isna().all():
            continue
        fig.add_trace(go.Scatter(
            x=h["epoch"], y=h["lr"], mode="lines+markers", line_shape="hv", name=name,
            line=dict(color=run_color(name, i)), hovertemplate="epoch %{x}<br>lr %{y:.2e}<extra></extra>",
        ))
    _layout(fig, "Learning rate", "epoch", "learning rate")
    fig.update_yaxes(type="log", exponentformat="e", dtick=1)  # one tick per decade
    return _epoch_axis(fig, histories)


def epoch_time(histories: Mapping[str, pd.DataFrame]) -> go.Figure:
    """Seconds per epoch, grouped bars per run."""
    fig = go.Figure()
    for i, (name, h) in enumerate(histories.items()):
        if "epoch_seconds" not in h or h["epoch_seconds"].isna().all():
            continue
        fig.add_trace(go.Bar(x=h["epoch"], y=h["epoch_seconds"], name=name, marker_color=run_color(name, i),
                             hovertemplate="epoch %{x}<br>%{y:.1f} s<extra></extra>"))
    fig.update_layout(barmode="group")
    _layout(fig, "Time per epoch", "epoch", "seconds")
    return _epoch_axis(fig, histories)


# -- Evaluation


def confusion(matrix: Sequence[Sequence[float]], normalize: bool = False, title: str = "",
              labels: Sequence[str] = CLASS_LABELS) -> go.Figure:
    """2×2 (or n×n) confusion matrix, rows = truth, columns = predicted. `normalize` divides
    each row by its total, so the diagonal shows each class's recall."""
    m = np.asarray(matrix, dtype=np.float64)
    if normalize:
        totals = m.sum(axis=1, keepdims=True)
        m = np.divide(m, totals, out=np.zeros_like(m), where=totals > 0)
        text = [[f"{v:.1%}" for v in row] for row in m]
    else:
        text = [[f"{int(v):,}" for v in row] for row in m]
    fig = go.Figure(go.Heatmap(
        z=m, x=list(labels), y=list(labels), text=text, texttemplate="%{text}", colorscale="Blues",
        showscale=False, zmin=0, zmax=1 if normalize else max(float(m.max()), 1.0),
        hovertemplate="truth %{y}<br>predicted %{x}<br>%{text}<extra></extra>",
    ))
    fig.update_yaxes(autorange="reversed")
    return _layout(fig, title or ("Confusion (row share)" if normalize else "Confusion (counts)"),
                   "predicted", "truth", height=330)


# Run styles beyond colour, so that curves lying on top of each other stay distinguishable.
_RUN_LINES = [dict(dash="solid", width=3), dict(dash="dash", width=2), dict(dash="dot", width=2)]
_RUN_SYMBOLS = ["circle", "diamond", "square"]
_ZOOMS = (0.01, 0.02, 0.05)


def _zoom_for(errors: list[float]) -> float | None:
    """The side of the zoomed square, or None. A zoom helps only where every curve hugs the
    corner, so that they hide each other: each misses at most about 1 % of the unit square
    (`errors`: 1 − the area under each curve). The side is the smallest nice size that leaves
    room to see them bend."""
    worst = max(errors, default=1.0)
    return next((z for z in _ZOOMS if 4 * worst <= z), None)


def _inset(fig: go.Figure, traces: list[go.Scatter], x_range: list[float], y_range: list[float],
           domain_x: list[float], domain_y: list[float]) -> None:
    """A zoomed copy of `traces` in a small second plot inside the figure, and a grey box on the
    main plot around the zoomed area."""
    for t in traces:
        fig.add_trace(t.update(xaxis="x2", yaxis="y2", showlegend=False))
    box = dict(showgrid=True, mirror=True, showline=True, linecolor="#888", ticks="outside")
    fig.update_layout(
        xaxis2=dict(domain=domain_x, anchor="y2", range=x_range, tickfont=dict(size=9), **box),
        yaxis2=dict(domain=domain_y, anchor="x2", range=y_range, tickfont=dict(size=9), **box),
    )
    fig.add_shape(type="rect", xref="x", yref="y", x0=x_range[0], x1=x_range[1], y0=y_range[0], y1=y_range[1],
                  line=dict(color="#888", width=1, dash="dot"))
    fig.add_annotation(text="zoom", xref="x2 domain", yref="y2 domain", x=0.02, y=0.98, showarrow=False,
                       xanchor="left", yanchor="top", font=dict(size=10, color="#666"))


def _area(x: np.ndarray, y: np.ndarray) -> float:
    return float(np.sum(np.diff(x) * (y[1:] + y[:-1]) / 2)) if len(x) > 1 else 0.0


def roc(curves: Mapping[str, pd.DataFrame], aucs: Mapping[str, float] | None = None,
        marks: Mapping[str, tuple[float, float]] | None = None, inset: bool = True) -> go.Figure:
    """ROC curves (DataFrames with fpr, tpr); `marks` puts a dot at each run's operating point.
    Runs differ in dash, width and marker as well as colour; `inset` adds a zoom on the top-left
    corner, where good models' curves lie on top of each other."""
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", line=dict(color="lightgray", dash="dot"),
                             name="chance", hoverinfo="skip"))
    zoomed = []
    for i, (name, pts) in enumerate(curves.items()):
        label = name if not aucs or name not in aucs else f"{name} (AUC {aucs[name]:.4f})"
        color, line = run_color(name, i), _RUN_LINES[i % len(_RUN_LINES)]
        curve = go.Scatter(x=pts["fpr"], y=pts["tpr"], mode="lines", name=label, line=dict(color=color, **line),
                           hovertemplate="FPR %{x:.3f}<br>TPR %{y:.3f}<extra>" + name + "</extra>")
        fig.add_trace(curve)
        zoomed.append(go.Scatter(curve))
        if marks and name in marks:
            fx, ty = marks[name]
            dot = go.Scatter(x=[fx], y=[ty], mode="markers", name=f"{name} at threshold", showlegend=False,
                             marker=dict(color=color, size=11, symbol=_RUN_SYMBOLS[i % len(_RUN_SYMBOLS)],
                                         line=dict(color="white", width=1)),
                             hovertemplate="at the threshold<br>FPR %{x:.4f}<br>TPR %{y:.4f}<extra>" + name + "</extra>")
            fig.add_trace(dot)
            zoomed.append(go.Scatter(dot))
    _layout(fig, "ROC (positive class: with_mask)", "false positive rate (no-mask faces called mask)",
            "true positive rate")
    fig.update_xaxes(range=[0, 1])
    fig.update_yaxes(range=[0, 1.02])
    z = _zoom_for([1 - _area(p["fpr"].to_numpy(float), p["tpr"].to_numpy(float)) for p in curves.values()])
    if inset and z:
        _inset(fig, zoomed, [-z / 50, z], [1 - z, 1 + z / 50], [0.5, 0.97], [0.08, 0.55])
    return fig


def precision_recall(curves: Mapping[str, pd.DataFrame],
                     marks: Mapping[str, tuple[float, float]] | None = None, inset: bool = True) -> go.Figure:
    """Precision-recall curves (DataFrames with recall, precision) for the with_mask class, styled
    per run as in `roc`; `inset` zooms on the top-right corner."""
    fig = go.Figure()
    zoomed = []
    for i, (name, pts) in enumerate(curves.items()):
        color, line = run_color(name, i), _RUN_LINES[i % len(_RUN_LINES)]
        curve = go.Scatter(x=pts["recall"], y=pts["precision"], mode="lines", name=name,
                           line=dict(color=color, shape="hv", **line),
                           hovertemplate="recall %{x:.3f}<br>precision %{y:.3f}<extra>" + name + "</extra>")
        fig.add_trace(curve)
        zoomed.append(go.Scatter(curve))
        if marks and name in marks:
            r, p = marks[name]
            dot = go.Scatter(x=[r], y=[p], mode="markers", name=f"{name} at threshold", showlegend=False,
                             marker=dict(color=color, size=11, symbol=_RUN_SYMBOLS[i % len(_RUN_SYMBOLS)],
                                         line=dict(color="white", width=1)),
                             hovertemplate="at the threshold<br>recall %{x:.4f}<br>precision %{y:.4f}<extra>"
                                           + name + "</extra>")
            fig.add_trace(dot)
            zoomed.append(go.Scatter(dot))
    _layout(fig, "Precision-recall (with_mask)", "recall", "precision")
    fig.update_xaxes(range=[0, 1])
    # precision never falls below the share of masked faces (reached at recall 1): start the axis
    # just under it, so that curves on a set with mostly masked faces are not squeezed to the top
    floor = min((float(p["precision"].min()) for p in curves.values() if len(p)), default=0.0)
    fig.update_yaxes(range=[max(0.0, np.floor(floor * 20) / 20 - 0.05), 1.02])
    # 1 − the area under each step curve (its average precision)
    z = _zoom_for([1 - float(np.sum(np.diff(p["recall"].to_numpy(float)) * p["precision"].to_numpy(float)[1:]))
                   for p in curves.values()])
    if inset and z:
        _inset(fig, zoomed, [1 - z, 1 + z / 50], [1 - z, 1 + z / 50], [0.08, 0.5], [0.08, 0.55])
    return fig


def has_inset(fig: go.Figure) -> bool:
    """Whether `roc` / `precision_recall` drew a zoomed inset."""
    return any(getattr(t, "xaxis", None) == "x2" for t in fig.data)


def calibration(tables: Mapping[str, pd.DataFrame]) -> go.Figure:
    """Reliability diagram: mean predicted p(with_mask) per bin vs the observed share of masked
    faces. Each point is labelled with its number of faces and sized by it; empty bins are left
    out. A calibrated model sits on the diagonal."""
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", line=dict(color="lightgray", dash="dot"),
                             name="perfectly calibrated", hoverinfo="skip"))
    for i, (name, t) in enumerate(tables.items()):
        t = t[t["count"] > 0]
        if t.empty:
            continue
        size = 6 + 24 * np.sqrt(t["count"] / t["count"].max())
        fig.add_trace(go.Scatter(
            x=t["mean_p"], y=t["fraction_with_mask"], mode="lines+markers+text", name=name,
            line=dict(color=run_color(name, i), **_RUN_LINES[i % len(_RUN_LINES)]),
            marker=dict(size=size, symbol=_RUN_SYMBOLS[i % len(_RUN_SYMBOLS)]), customdata=t["count"],
            text=[f"n={c:,}" for c in t["count"]], textposition="top left" if i % 2 == 0 else "bottom right",
            textfont=dict(size=10, color=run_color(name, i)), cliponaxis=False,
            hovertemplate="mean p %{x:.3f}<br>observed %{y:.3f}<br>%{customdata} faces<extra>" + name + "</extra>",
        ))
    _layout(fig, "Calibration (reliability)", "mean predicted p(with_mask)", "observed share with_mask")
    fig.update_layout(legend_itemsizing="constant", margin=dict(r=55))  # room for the labels of the last bin
    fig.update_xaxes(range=[-0.02, 1.02])
    fig.update_yaxes(range=[-0.06, 1.08])
    return fig


def probability_histogram(frames: Mapping[str, pd.DataFrame], threshold: float | None = None) -> go.Figure:
    """Distribution of p(with_mask) per true class (DataFrames with truth, p_mask); one panel per run."""
    names = list(frames)
    fig = make_subplots(rows=1, cols=max(len(names), 1), subplot_titles=names, shared_yaxes=True,
                        horizontal_spacing=0.1)
    colors = {WITH_MASK: "#2ecc71", WITHOUT_MASK: "#e74c3c", INCORRECT: "#f1c40f"}
    for j, name in enumerate(names, start=1):
        df = frames[name]
        for truth, part in df.groupby("truth"):
            # p = 1.0 exactly would fall outside the last [0.975, 1) bin
            fig.add_trace(go.Histogram(x=np.minimum(part["p_mask"], 0.99999), name=str(truth), nbinsx=40, opacity=0.7,
                                       marker_color=colors.get(str(truth)), legendgroup=str(truth),
                                       showlegend=j == 1, xbins=dict(start=0, end=1, size=0.025)),
                          row=1, col=j)
        if threshold is not None:
            fig.add_vline(x=threshold, line=dict(color="black", dash="dash"), row=1, col=j)
    fig.update_layout(barmode="overlay")
    fig.update_yaxes(type="log", dtick=1)
    fig.update_yaxes(title_text="faces (log scale)", row=1, col=1)
    _layout(fig, "p(with_mask) by true class", "p(with_mask)", "faces (log scale)", height=360)
    fig.update_xaxes(range=[0, 1], title_text="p(with_mask)")
    fig.update_layout(legend=dict(y=-0.32), margin=dict(b=70))  # under the x-axis titles, not on them
    return fig


def probe_bars(table: pd.DataFrame, x: str, title: str, n: Mapping[str, int] | None = None,
               y_max: float | None = None) -> go.Figure:
    """Error rates per probe setting (e.g. face width or brightness). `table` holds, per column
    other than `x`, the share of faces still classified correctly (as metrics.json stores the
    probes); the bars show the share *wrong*, where the differences are visible, labelled with
    the number of faces wrong out of `n[column]` when known. `y_max` fixes the axis so that
    several charts compare at a glance."""
    fig = go.Figure()
    for col in [c for c in table.columns if c != x]:
        err = 1 - table[col].astype(float)
        total = (n or {}).get(col)
        wrong = [None if total is None or e != e else int(round(e * total)) for e in err]
        text = [f"{e:.1%}" if w is None else f"{e:.1%} ({w})" for e, w in zip(err, wrong)]
        hover = [f"{e:.2%} wrong" + ("" if w is None else f": {w} of {total:,} faces") for e, w in zip(err, wrong)]
        fig.add_trace(go.Bar(x=table[x].astype(str), y=err, name=col,
                             text=text, textposition="outside", cliponaxis=False, customdata=hover,
                             hovertemplate="%{x}: %{customdata}<extra>" + col + "</extra>"))
    fig.update_layout(barmode="group", uniformtext=dict(minsize=8, mode="show"))
    highest = max((float(np.nanmax(t.y)) for t in fig.data if len(t.y)), default=0.0)
    top = y_max if y_max is not None else max(0.01, highest) * 1.3
    fig.update_yaxes(tickformat=".1%", range=[0, top], rangemode="tozero")
    fig.update_xaxes(type="category")  # the settings probed, evenly spaced, not a numeric scale
    if n:
        title += " · n: " + ", ".join(f"{v:,} {k}" for k, v in n.items())
    return _layout(fig, title, x, "share wrong", height=330)


# Colours of the classes on the whole-pipeline chart; the incorrectly worn masks grey (few faces).
HEIGHT_CLASS_COLORS = {"all faces": "#34495e", WITH_MASK: "#2ecc71", WITHOUT_MASK: "#e74c3c", INCORRECT: "#95a5a6"}


def recall_by_height(table: pd.DataFrame, title: str = "") -> go.Figure:
    """Share of labelled faces found and labelled right per face-height bin, one bar per class
    (shipped.scenes_by_height: bin, class, n, found, right). Each bin's tick gives its numbers of
    faces (all, then per class in the legend's order), so that a bin of 5 faces is not read like
    one of 300; the bars carry the percentages only, which keeps neighbours from overlapping."""
    fig = go.Figure()
    groups = list(table.groupby("class", sort=False))
    counts = {b: [int(n) for n in rows["n"]] for b, rows in table.groupby("bin", sort=False)}
    ticks = {b: f"{b} px<br>n={n[0]} ({' / '.join(map(str, n[1:]))})" for b, n in counts.items()}
    for i, (cls, rows) in enumerate(groups):
        right = rows["right"].astype(float)
        fig.add_trace(go.Bar(
            x=[ticks[b] for b in rows["bin"]], y=right, name=cls,
            text=[f"{v:.0%}" if v == v else "" for v in right], textposition="outside", textfont=dict(size=10),
            cliponaxis=False, marker_color=HEIGHT_CLASS_COLORS.get(cls, run_color(cls, i)),
            customdata=np.c_[rows["n"], rows["found"].astype(float)],
            hovertemplate="%{y:.1%} found and labelled right, found %{customdata[1]:.1%} "
                          "of %{customdata[0]} faces<extra>" + cls + "</extra>"))
    fig.update_layout(barmode="group", uniformtext=dict(minsize=8, mode="show"))
    fig.update_yaxes(tickformat=".0%", range=[0, 1.1])
    fig.update_xaxes(type="category")
    fig = _layout(fig, title, "face height in the photo · n = faces (" + " / ".join(c for c, _ in groups[1:]) + ")",
                  "found and labelled right", height=420)
    return fig.update_layout(legend=dict(y=-0.3), margin=dict(b=80))


# -- How it works


def grid(values: np.ndarray, title: str = "", highlight: tuple[int, int, int, int] | None = None,
         colorscale: str = "Greys", fmt: str = "{:g}", zmid: float | None = None) -> go.Figure:
    """A small matrix drawn as a grid of numbers (convolution explainer). `highlight` =
    (row, col, height, width) outlines a window."""
    v = np.asarray(values, dtype=np.float64)
    h, w = v.shape
    fig = go.Figure(go.Heatmap(
        z=v, text=[[fmt.format(x) for x in row] for row in v], texttemplate="%{text}",
        textfont=dict(size=16), colorscale=colorscale, showscale=False, xgap=2, ygap=2, zmid=zmid,
        hovertemplate="row %{y}, column %{x}: %{z}<extra></extra>",
    ))
    if highlight is not None:
        r, c, hh, ww = highlight
        fig.add_shape(type="rect", x0=c - 0.5, x1=c + ww - 0.5, y0=r - 0.5, y1=r + hh - 0.5,
                      line=dict(color="#e74c3c", width=4))
    hidden = dict(showticklabels=False, showgrid=False, zeroline=False, ticks="")
    fig.update_yaxes(autorange="reversed", scaleanchor="x", **hidden)
    fig.update_xaxes(constrain="domain", **hidden)
    fig.update_layout(title=title, height=70 + 48 * h, width=70 + 48 * w, margin=dict(l=10, r=10, t=40, b=10))
    return fig


def feature_maps(maps: np.ndarray, channels: Sequence[int] | None = None, cols: int = 4,
                 title: str = "") -> go.Figure:
    """H×W×C activations → one panel per chosen channel. Each map is scaled to its own range
    (0 = its weakest response, 1 = its strongest) and one colour bar says so; the raw activation
    is in the hover. Raw values differ by orders of magnitude between channels, and a deep 7×7
    map would otherwise read as one flat colour."""
    maps = np.asarray(maps, dtype=np.float32)
    if maps.ndim == 4:
        maps = maps[0]
    if maps.ndim != 3:
        raise ValueError(f"feature maps must be H×W×C, got shape {maps.shape}")
    if channels is None:
        channels = list(range(min(maps.shape[-1], 8)))
    channels = list(channels)
    rows = max(1, int(np.ceil(len(channels) / cols)))
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=[f"channel {c}" for c in channels],
                        horizontal_spacing=0.02, vertical_spacing=0.08)
    for i, ch in enumerate(channels):
        raw = maps[..., ch]
        lo, span = float(raw.min()), float(raw.max() - raw.min())
        scaled = (raw - lo) / span if span > 0 else np.zeros_like(raw)  # a flat map is all "weakest"
        fig.add_trace(go.Heatmap(z=scaled, customdata=raw, coloraxis="coloraxis",
                                 hovertemplate=f"channel {ch}<br>activation %{{customdata:.3f}}"
                                               "<br>%{z:.0%} of this map's range<extra></extra>"),
                      row=i // cols + 1, col=i % cols + 1)
    hidden = dict(showticklabels=False, showgrid=False, zeroline=False, ticks="")
    fig.update_yaxes(autorange="reversed", **hidden)
    fig.update_xaxes(**hidden)
    for i in range(1, len(channels) + 1):  # square pixels in every panel
        fig.layout[f"yaxis{'' if i == 1 else i}"].scaleanchor = f"x{'' if i == 1 else i}"
    fig.update_layout(
        title=title, height=40 + 190 * rows, margin=dict(l=10, r=10, t=60, b=10),
        coloraxis=dict(colorscale="Viridis", cmin=0, cmax=1, colorbar=dict(
            title=dict(text="response,<br>per map", side="top"), tickvals=[0, 0.5, 1],
            ticktext=["weakest", "half", "strongest"], thickness=14, len=0.9)),
    )
    return fig


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
    for i, (name, t) in enumerate(tables.items()):
        for cls in CLASS_LABELS:
            c = t[t["truth"] == cls]
            _pct_line(fig, c["size_bin"], c["accuracy"], c["n"], f"{name} · truth {cls}", run_color(name, i),
                      TRUTH_DASH[cls])
    fig = _study_layout(fig, "Full Test split: accuracy by the file's native width", "native width (px)", "accuracy")
    return fig.update_xaxes(type="category")


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


# -- live
# The overlay's colours (maskdash.inference.draw.COLORS), so a person's bar matches their box.
VERDICT_COLORS = {WITH_MASK: "#2ecc71", WITHOUT_MASK: "#e74c3c", UNCERTAIN: "#f1c40f"}


def door_chart(rows: Sequence[Mapping], height: int = 300) -> go.Figure:
    """The last minute of the door monitor (monitor.MinuteSeries.series()): faces in view (bars)
    and share masked (line, %)."""
    x = [r["seconds_ago"] for r in rows]
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    fig.add_trace(go.Bar(x=x, y=[r["faces"] for r in rows], name="faces in view",
                         marker_color="#7f8c8d", opacity=0.6), secondary_y=False)
    share = [None if r["share_masked"] is None else 100 * r["share_masked"] for r in rows]
    fig.add_trace(go.Scatter(x=x, y=share, name="% masked", mode="lines+markers", connectgaps=False,
                             line=dict(color=VERDICT_COLORS[WITH_MASK], width=2), marker=dict(size=4)),
                  secondary_y=True)
    top = max([r["faces"] for r in rows] + [1])
    fig.update_yaxes(title_text="faces", range=[0, top + 0.5], dtick=1 if top <= 5 else None, secondary_y=False)
    fig.update_yaxes(title_text="% masked", range=[0, 105], tickvals=[0, 50, 100], secondary_y=True, showgrid=False)
    fig.update_xaxes(title_text="seconds ago", range=[x[0] - 0.5, 0.5] if x else None)
    fig.update_layout(height=height, margin=dict(l=40, r=40, t=10, b=40), bargap=0.1,
                      legend=dict(orientation="h", y=-0.3, x=0), uirevision="door")
    return fig



def session_chart(rows: Sequence[Mapping], height: int = 300) -> go.Figure:
    """The session log (monitor.SessionLog.rows()): one bar per person from first to last seen,
    coloured by verdict, people numbered in the order they came."""
    fig = go.Figure()
    for verdict, color in VERDICT_COLORS.items():
        mine = [r for r in rows if r["verdict"] == verdict]
        if not mine:
            continue
        start = pd.to_datetime([r["start"] for r in mine])
        end = pd.to_datetime([r["end"] for r in mine])
        # At least a second wide, so that someone seen for one frame still shows.
        width_ms = np.maximum((end - start).total_seconds().to_numpy() * 1000, 1000)
        fig.add_trace(go.Bar(
            base=start, x=width_ms, y=[f"#{r['person']}" for r in mine], orientation="h",
            name=verdict.replace("_", " "), marker_color=color,
            customdata=[[r["frames"], r["mean_p_mask"]] for r in mine],
            hovertemplate="%{y}: %{customdata[0]} frames, mean p(mask) %{customdata[1]}<extra></extra>"))
    order = [f"#{r['person']}" for r in rows]
    fig.update_yaxes(title_text="person", categoryorder="array", categoryarray=order[::-1], autorange=True)
    fig.update_xaxes(type="date", title_text="time")
    fig.update_layout(height=height, margin=dict(l=40, r=20, t=10, b=40), barmode="overlay",
                      legend=dict(orientation="h", y=-0.3, x=0), uirevision="session")
    return fig
