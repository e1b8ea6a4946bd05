"""Small pieces the failure-analysis page and its tab modules share. A helper module, not a page."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import streamlit as st

from maskdash import charts, settings
from maskdash.analysis import examples, studies
from maskdash.analysis.results import shown_path, table
from maskdash.imaging import ImageError


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


@st.cache_data(show_spinner=False, max_entries=64)
def example_thumb(row_json: str, data_dir: str) -> np.ndarray:
    """One example face cut from the data folder (`data_dir` is part of the cache key)."""
    return examples.cut_example(json.loads(row_json), data_dir)


def example_faces(results: dict[str, dict], study: str, names: list[str], have_data: bool) -> None:
    """The example faces each run recorded, cut from the data; without it, their figures only."""
    listed = []
    for n in names:
        ex = table(results[n], "examples")
        if ex is None:
            continue
        ex = ex[ex["study"] == study]
        if not have_data:
            listed += [{"model": n, "example": r["detail"], "truth": r["truth"], "p(mask)": f"{float(r['p_mask']):.2f}"}
                       for _, r in ex.iterrows()]
            continue
        show_examples(n, [(r, examples.caption(r)) for _, r in ex.iterrows()])
    listed_examples(listed)


def show_examples(title: str | None, rows: list[tuple[pd.Series, str]]) -> None:
    images, caps = [], []
    for r, cap in rows:
        try:
            images.append(example_thumb(json.dumps(examples.plain(r)), str(settings.data_dir())))
            caps.append(cap)
        except (ImageError, KeyError, ValueError) as exc:
            st.caption(f"{r['path']}: {exc}")
    if images:
        if title:
            st.markdown(f"**{title}**")
        st.image(images, caption=caps, width=150)


def listed_examples(listed: list[dict]) -> None:
    if listed:
        st.dataframe(pd.DataFrame(listed), hide_index=True)
        st.caption("The example faces are cut from the data folder when it is present (face crops belong to "
                   "the data sets and are not committed).")
