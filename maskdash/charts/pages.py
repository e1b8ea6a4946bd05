"""Figures of the Training, Evaluation and How it works pages."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from maskdash.labels import INCORRECT, WITH_MASK, WITHOUT_MASK, classes_of
from maskdash.charts.base import _layout, run_color


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
              labels: Sequence[str] | None = None) -> go.Figure:
    """2×2 (binary) or 3×3 (with mask_incorrect) confusion matrix, rows = truth, columns =
    predicted. `labels` default to the classes of a model of that width (`labels.classes_of`).
    `normalize` divides each row by its total, so the diagonal shows each class's recall."""
    m = np.asarray(matrix, dtype=np.float64)
    if m.ndim != 2 or m.shape[0] != m.shape[1]:
        raise ValueError(f"a confusion matrix is square, got shape {m.shape}")
    labels = list(classes_of(m.shape[0]) if labels is None else labels)
    if len(labels) != m.shape[0]:
        raise ValueError(f"{len(labels)} class names for a {m.shape[0]}×{m.shape[0]} confusion matrix")
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
                   "predicted", "truth", height=330 + 60 * (len(labels) - 2))


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


def _visits(x, y, x_range, y_range, steps: int = 20) -> bool:
    """Does the polyline through (x, y) pass through the box? (A set with few negatives has ROC steps
    wider than the zoom: a high AUC, and nothing inside the zoomed corner to show.)"""
    x, y = np.asarray(x, float), np.asarray(y, float)
    if len(x) > 1:
        t = np.linspace(0.0, 1.0, steps)[:, None]
        x, y = (x[:-1] + t * np.diff(x)).ravel(), (y[:-1] + t * np.diff(y)).ravel()
    return bool(np.any((x >= x_range[0]) & (x <= x_range[1]) & (y >= y_range[0]) & (y <= y_range[1])))


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
    if inset and z and all(_visits(p["fpr"], p["tpr"], [0, z], [1 - z, 1]) for p in curves.values()):
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
    if inset and z and all(_visits(p["recall"], p["precision"], [1 - z, 1], [1 - z, 1]) for p in curves.values()):
        _inset(fig, zoomed, [1 - z, 1 + z / 50], [1 - z, 1 + z / 50], [0.08, 0.5], [0.08, 0.55])
    return fig


def has_inset(fig: go.Figure) -> bool:
    """Whether `roc` / `precision_recall` drew a zoomed inset."""
    return any(getattr(t, "xaxis", None) == "x2" for t in fig.data)


def _spaced_labels(x: Sequence[float], labels: list[str], gap: float = 0.08) -> list[str]:
    """The labels of points at least `gap` apart along x, blanks between: the middle bins of a
    confident model sit close together and their labels overprinted each other (hover keeps them)."""
    xs = np.asarray(x, float)
    out, last = [""] * len(labels), -np.inf
    for i in np.argsort(xs, kind="stable"):
        if xs[i] - last >= gap:
            out[i], last = labels[i], xs[i]
    return out


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
            text=_spaced_labels(t["mean_p"], [f"n={c:,}" for c in t["count"]]), textposition="top left" if i % 2 == 0 else "bottom right",
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
    colors = {WITH_MASK: "#2ecc71", WITHOUT_MASK: "#e74c3c", INCORRECT: "#ff8c00"}  # the photos' box colours
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


# Colours of the classes on the whole-pipeline chart: the photos' box colours (inference.draw), so
# that a mask below the nose is orange everywhere.
HEIGHT_CLASS_COLORS = {"all faces": "#34495e", WITH_MASK: "#2ecc71", WITHOUT_MASK: "#e74c3c", INCORRECT: "#ff8c00"}


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
