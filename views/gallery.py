"""The gallery of mistakes, one renderer for the Evaluation and Failure analysis pages: the
table from `maskdash.analysis.mistakes`, the faces cut from the data folder, Grad-CAM on demand.
A helper module, not a page."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import streamlit as st

from maskdash.analysis.mistakes import CONFIDENCE, TAGS, gallery_face, mistakes
from maskdash.imaging import ImageError
from maskdash.labels import CLASSES, INCORRECT
from views.common import data_available, data_hint
from views.failure_common import dashes
from views.gradcam import gradcam

COLUMNS = ("path", "face", "truth", "label", "p_mask", "confidence", "error", "tags", "width", "height")
PER_ROW = 6


@st.cache_data(show_spinner=False, max_entries=256)
def _face(row_json: str, set_name: str) -> np.ndarray:
    return gallery_face(json.loads(row_json), set_name)


def face_of(row: pd.Series, set_name: str) -> np.ndarray:
    """The classifier's input for a predictions row (cached). Raises ImageError, KeyError, ValueError."""
    plain = {k: (v.item() if hasattr(v, "item") else v) for k, v in row.items()}
    return _face(json.dumps(plain), set_name)


def _filters(preds: pd.DataFrame, key: str) -> tuple[str, float, list[str], bool]:
    c = st.columns(4)
    truths = ["any"] + [t for t in (*CLASSES, INCORRECT) if (preds["truth"] == t).any()]
    truth = c[0].selectbox("True class", truths, key=f"{key}_truth")
    min_conf = c[1].slider("Confidence in its call at least", 0.0, 1.0, 0.0, 0.01, key=f"{key}_conf",
                           help=CONFIDENCE)
    tags = c[2].multiselect("Tags (all must apply)", list(TAGS), key=f"{key}_tags")
    correct = c[3].toggle("Include correct calls", key=f"{key}_correct",
                          help="Browse every face of the set, not only the mistakes.")
    return truth, min_conf, tags, correct


def mistakes_gallery(preds: pd.DataFrame, set_name: str, threshold: float, key: str, *,
                     filters: bool = False, duplicates: pd.DataFrame | None = None, yaw: pd.DataFrame | None = None,
                     faces: int = 12, cam: bool = False, keras_path: str | None = None,
                     hint: bool = True) -> pd.DataFrame:
    """The mistakes of one predictions table at `threshold`, most confident first: a summary
    line, the table and the faces (when the data folder is present). `filters` adds true-class,
    confidence, tag and include-correct filters; `duplicates`/`yaw` add tags; `cam` offers
    Grad-CAM overlays from `keras_path`. Widget keys start with `key`. `hint`: say how to get the
    data when it is missing (else a short caption). Returns the faces listed (after filtering)."""
    truth, min_conf, tags, correct = _filters(preds, key) if filters else ("any", 0.0, [], False)
    table = mistakes(preds, set_name, threshold, duplicates, yaw, include_correct=correct)
    n_wrong = int((table["error"] != "correct").sum()) if len(table) else 0
    view = table if truth == "any" else table[table["truth"] == truth]
    view = view[view["confidence"] >= min_conf]
    for t in tags:
        view = view[view["tags"].str.contains(t, regex=False)]
    if filters:
        st.markdown(f"**{n_wrong} mistakes** among {len(preds):,} faces at threshold {threshold:.2f}; "
                    f"**{len(view)}** match the filters.")
    else:
        st.markdown(f"**{n_wrong}** of {len(preds):,} faces are wrong at threshold {threshold:.2f}"
                    + ("; the most confident mistakes first." if n_wrong else "."))
    st.caption(f"{CONFIDENCE.capitalize()}. Tags: " + " · ".join(f"`{k}`: {v}" for k, v in TAGS.items()))
    st.dataframe(dashes(view[[c for c in COLUMNS if c in view.columns]]), hide_index=True, key=f"{key}_table")
    if not data_available():
        if hint:
            data_hint("Showing the faces of the gallery")
        else:
            st.caption("The faces themselves appear here when the data folder is present (see above).")
    elif len(view):
        _faces(view, set_name, key, faces, cam, keras_path)
    return view


def _faces(view: pd.DataFrame, set_name: str, key: str, default: int, cam: bool, keras_path: str | None) -> None:
    top = min(24, len(view))
    n = st.slider("Faces to show", 1, top, min(default, top), key=f"{key}_n") if top > 1 else 1
    overlay = cam and st.toggle("Grad-CAM overlays (where the model looked for its call)", key=f"{key}_cam")
    if overlay and keras_path is None:
        st.warning("Grad-CAM needs the Keras model (model.keras) of this model, which is missing.")
    cols = st.columns(PER_ROW)
    for k, (_, r) in enumerate(view.head(n).iterrows()):
        col = cols[k % PER_ROW]
        try:
            face = face_of(r, set_name)
        except (ImageError, KeyError, ValueError) as exc:
            col.caption(f"{r['path']}: {exc}")
            continue
        cap = f"{r['truth']} → {r['label']} · p(mask) {r['p_mask']:.2f}"
        if overlay and keras_path:
            face, _ = gradcam(keras_path, face, None)
            cap += " · Grad-CAM"
        col.image(face, caption=cap, width="stretch")
