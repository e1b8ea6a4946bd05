"""Figures of the Live page."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from maskdash.labels import INCORRECT, UNCERTAIN, WITH_MASK, WITHOUT_MASK


# -- live
# The overlay's colours (maskdash.inference.draw.COLORS), so a person's bar matches their box.
VERDICT_COLORS = {WITH_MASK: "#2ecc71", WITHOUT_MASK: "#e74c3c", INCORRECT: "#ff8c00", UNCERTAIN: "#f1c40f"}


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
