"""Small pieces the failure-analysis page and its tab modules share. A helper module, not a page."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from maskdash import charts
from maskdash.analysis import studies
from maskdash.analysis.results import shown_path, table


def tables(results: dict[str, dict], names: list[str], key: str) -> dict[str, pd.DataFrame]:
    """{name: table} for the results that have a non-empty `key` table."""
    found = {n: table(results[n], key) for n in names}
    return {n: t for n, t in found.items() if t is not None}


def no_results(study: str) -> None:
    st.info(f"No {studies.STUDY_TITLES[study].lower()} results yet: run `python -m maskdash analyze`.",
            icon=":material/hourglass_empty:")


def subsample_note(results: dict[str, dict], names: list[str]) -> None:
    for n in names:
        s = results[n]["summary"]
        note = (s.get("subsample") or {}).get("note")
        if note:
            model = shown_path(s["model"]) if s.get("model") else "?"
            st.caption(f"**{n}** — {note} Generated {s.get('generated', '?')}, model `{model}`.")
            return


def dashes(df: pd.DataFrame) -> pd.DataFrame:
    """A table for display with its empty cells as "–" (st.dataframe would print "None"); only
    columns that have empty cells become text."""
    out = df.copy()
    for c in out.columns:
        if out[c].isna().any():
            out[c] = [("–" if pd.isna(v) else (f"{v:.4g}" if isinstance(v, float) else v))
                      for v in out[c]]
    return out


def few_note(t: pd.DataFrame, marks: str = "Pale bars") -> None:
    """Say what the faded marks of a chart mean, when it has any (bins with fewer than MIN_N faces)."""
    if (t["n"] < charts.MIN_N).any():
        st.caption(f"Hover a bar or point for its n (faces). {marks}: fewer than {charts.MIN_N} faces, where one "
                   "face moves the percentage by 10 points or more, so read them as anecdotes.")
