"""What every chart shares: one colour per training run, the class names, the layout."""

from __future__ import annotations

import plotly.graph_objects as go

from maskdash.labels import CLASSES

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
