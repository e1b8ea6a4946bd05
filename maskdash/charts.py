"""Plotly figure builders for the dashboard: pure functions of pandas/numpy data → go.Figure.

Kept out of the pages so that they can be unit-tested and reused; nothing here reads files or
knows about Streamlit."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from maskdash.labels import UNCERTAIN, WITH_MASK, WITHOUT_MASK

# One colour per training run, the same on every chart.
RUN_COLORS = {"robust": "#1f77b4", "seed": "#ff7f0e"}
_FALLBACK_COLORS = ["#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"]
CLASS_LABELS = ("with_mask", "without_mask")


def run_color(name: str, i: int = 0) -> str:
    return RUN_COLORS.get(name, _FALLBACK_COLORS[i % len(_FALLBACK_COLORS)])


def _layout(fig: go.Figure, title: str, x: str, y: str, height: int = 380) -> go.Figure:
    fig.update_layout(
        title=title, xaxis_title=x, yaxis_title=y, height=height,
        margin=dict(l=50, r=20, t=60, b=45), legend=dict(orientation="h", y=-0.22),
    )
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
    fig.update_xaxes(dtick=1)
    return fig


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
    fig.update_xaxes(dtick=1)
    return fig


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
    fig.update_xaxes(dtick=1)
    return fig


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


def roc(curves: Mapping[str, pd.DataFrame], aucs: Mapping[str, float] | None = None,
        marks: Mapping[str, tuple[float, float]] | None = None) -> go.Figure:
    """ROC curves (DataFrames with fpr, tpr); `marks` puts a dot at each run's operating point."""
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", line=dict(color="lightgray", dash="dot"),
                             name="chance", hoverinfo="skip"))
    for i, (name, pts) in enumerate(curves.items()):
        label = name if not aucs or name not in aucs else f"{name} (AUC {aucs[name]:.4f})"
        color = run_color(name, i)
        fig.add_trace(go.Scatter(x=pts["fpr"], y=pts["tpr"], mode="lines", name=label, line=dict(color=color),
                                 hovertemplate="FPR %{x:.3f}<br>TPR %{y:.3f}<extra></extra>"))
        if marks and name in marks:
            fx, ty = marks[name]
            fig.add_trace(go.Scatter(x=[fx], y=[ty], mode="markers", marker=dict(color=color, size=10),
                                     name=f"{name} at threshold", showlegend=False))
    _layout(fig, "ROC (positive class: with_mask)", "false positive rate (no-mask faces called mask)",
            "true positive rate")
    fig.update_xaxes(range=[0, 1])
    fig.update_yaxes(range=[0, 1.02])
    return fig


def precision_recall(curves: Mapping[str, pd.DataFrame],
                     marks: Mapping[str, tuple[float, float]] | None = None) -> go.Figure:
    """Precision-recall curves (DataFrames with recall, precision) for the with_mask class."""
    fig = go.Figure()
    for i, (name, pts) in enumerate(curves.items()):
        color = run_color(name, i)
        fig.add_trace(go.Scatter(x=pts["recall"], y=pts["precision"], mode="lines", name=name,
                                 line=dict(color=color, shape="hv"),
                                 hovertemplate="recall %{x:.3f}<br>precision %{y:.3f}<extra></extra>"))
        if marks and name in marks:
            r, p = marks[name]
            fig.add_trace(go.Scatter(x=[r], y=[p], mode="markers", marker=dict(color=color, size=10),
                                     name=f"{name} at threshold", showlegend=False))
    _layout(fig, "Precision-recall (with_mask)", "recall", "precision")
    fig.update_xaxes(range=[0, 1])
    return fig


def calibration(tables: Mapping[str, pd.DataFrame]) -> go.Figure:
    """Reliability diagram: mean predicted p(with_mask) per bin vs the observed share of masked
    faces; marker size ∝ bin count. A calibrated model sits on the diagonal."""
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", line=dict(color="lightgray", dash="dot"),
                             name="perfectly calibrated", hoverinfo="skip"))
    for i, (name, t) in enumerate(tables.items()):
        if t.empty:
            continue
        size = 6 + 24 * np.sqrt(t["count"] / t["count"].max())
        fig.add_trace(go.Scatter(
            x=t["mean_p"], y=t["fraction_with_mask"], mode="lines+markers", name=name,
            line=dict(color=run_color(name, i)), marker=dict(size=size), customdata=t["count"],
            hovertemplate="mean p %{x:.3f}<br>observed %{y:.3f}<br>%{customdata} faces<extra></extra>",
        ))
    _layout(fig, "Calibration (reliability)", "mean predicted p(with_mask)", "observed share with_mask")
    fig.update_layout(legend_itemsizing="constant")
    fig.update_xaxes(range=[0, 1])
    fig.update_yaxes(range=[-0.02, 1.02])
    return fig


def probability_histogram(frames: Mapping[str, pd.DataFrame], threshold: float | None = None) -> go.Figure:
    """Distribution of p(with_mask) per true class (DataFrames with truth, p_mask); one panel per run."""
    names = list(frames)
    fig = make_subplots(rows=1, cols=max(len(names), 1), subplot_titles=names, shared_yaxes=True,
                        horizontal_spacing=0.1)
    colors = {"with_mask": "#2ecc71", "without_mask": "#e74c3c", "mask_weared_incorrect": "#f1c40f"}
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
    _layout(fig, "p(with_mask) by true class", "p(with_mask)", "faces (log scale)", height=330)
    fig.update_xaxes(range=[0, 1], title_text="p(with_mask)")
    return fig


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
    """H×W×C activations → one greyscale panel per chosen channel (each scaled to its own range)."""
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
        fig.add_trace(go.Heatmap(z=maps[..., ch], colorscale="Viridis", showscale=False,
                                 hovertemplate=f"channel {ch}<br>%{{z:.3f}}<extra></extra>"),
                      row=i // cols + 1, col=i % cols + 1)
    hidden = dict(showticklabels=False, showgrid=False, zeroline=False, ticks="")
    fig.update_yaxes(autorange="reversed", **hidden)
    fig.update_xaxes(**hidden)
    for i in range(1, len(channels) + 1):  # square pixels in every panel
        fig.layout[f"yaxis{'' if i == 1 else i}"].scaleanchor = f"x{'' if i == 1 else i}"
    fig.update_layout(title=title, height=40 + 190 * rows, margin=dict(l=10, r=10, t=60, b=10))
    return fig


def probe_bars(table: pd.DataFrame, x: str, title: str, reference: float | None = None) -> go.Figure:
    """Accuracy-style values per probe setting (e.g. face width or brightness), one bar group per
    column other than `x`."""
    fig = go.Figure()
    for col in [c for c in table.columns if c != x]:
        fig.add_trace(go.Bar(x=table[x].astype(str), y=table[col], name=col,
                             hovertemplate="%{x}: %{y:.1%}<extra>" + col + "</extra>"))
    if reference is not None:
        fig.add_hline(y=reference, line=dict(color="gray", dash="dot"))
    fig.update_layout(barmode="group")
    fig.update_yaxes(tickformat=".0%", range=[0, 1.02])
    return _layout(fig, title, x, "share correct", height=330)


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
