"""Plotly figure builders for the dashboard: pure functions of pandas/numpy data → go.Figure.

Kept out of the pages so that they can be unit-tested and reused; nothing here reads files or
knows about Streamlit. One import for the pages (`from maskdash import charts`), one module per
page group: base (colours, layout), pages (Training, Evaluation, How it works), failures, live."""

from maskdash.charts.base import *  # noqa: F401,F403
from maskdash.charts.failures import *  # noqa: F401,F403
from maskdash.charts.live import *  # noqa: F401,F403
from maskdash.charts.pages import *  # noqa: F401,F403
