"""Grad-CAM for the pages: the Keras model and overlays cached per process, a face picked from
an uploaded photo, and the three-image explanation of one face. A helper module, not a page."""

from __future__ import annotations

import numpy as np
import streamlit as st

from maskdash.imaging import ImageError
from maskdash.inference.photos import UPLOAD_TYPES
from maskdash.labels import CLASSES, CLASSES3


@st.cache_resource(show_spinner="Loading the Keras model for Grad-CAM…")
def keras_model(path: str):
    from maskdash.model.network import load_model

    return load_model(path)


@st.cache_data(show_spinner=False, max_entries=256)
def gradcam(model_path: str, face: np.ndarray, class_index: int | None) -> tuple[np.ndarray, np.ndarray]:
    """(the face with its Grad-CAM overlay, the class probabilities); `class_index` None explains
    the model's own call."""
    from maskdash.model.explain import explain, overlay

    cam = explain(keras_model(model_path), face, class_index)
    return overlay(face, cam.heat), cam.probs


def uploaded_face(key: str) -> np.ndarray | None:
    """A face from an uploaded photo: detected (the user picks one), else the whole picture."""
    from maskdash.imaging import crop_face, load_rgb, to_input
    from maskdash.inference.detection import default_photo_detector
    from maskdash.inference.draw import annotate
    from maskdash.inference.results import Face
    from maskdash.labels import CROP_MARGIN
    from views.common import get_detector

    up = st.file_uploader("A photo with one or more faces", type=UPLOAD_TYPES, key=key)
    if up is None:
        return None
    try:
        rgb = load_rgb(up.getvalue())
    except ImageError as exc:
        st.error(f"{up.name}: {exc}")
        return None
    try:
        det, note = get_detector(default_photo_detector())
    except Exception as exc:  # noqa: BLE001 - any detector failure is shown, not raised
        det, note = None, None
        st.error(f"No face detector available: {exc}")
    if note:
        st.caption(note)
    found = det.detect(rgb) if det is not None else []
    if not found:
        st.warning("No face found; the whole picture is explained as one face.")
        return to_input(rgb)  # 224×224, as the classifier sees it (a 5000×10 strip would show as 0 px tall)
    marks = [Face(d.box, d.det_score, label=f"face {i + 1}") for i, d in enumerate(found)]
    st.image(annotate(rgb, marks, show_prob=False), caption=f"{len(found)} face(s) found", width=480)
    k = st.selectbox("Face", list(range(len(found))), key=f"{key}_face",
                     format_func=lambda i: f"face {i + 1} (detector score {found[i].det_score:.2f})")
    return crop_face(rgb, found[k].box, CROP_MARGIN)


def explain_face(model_name: str, model_path: str, face: np.ndarray) -> None:
    """The model's call on one face, with Grad-CAM for that call and for with_mask."""
    from maskdash.imaging import to_input

    with st.spinner("Computing Grad-CAM…"):
        over, probs = gradcam(model_path, np.ascontiguousarray(face), None)
        over_mask, _ = gradcam(model_path, np.ascontiguousarray(face), 0)
    call = (CLASSES3 if len(probs) > len(CLASSES) else CLASSES)[int(np.argmax(probs))]  # a three-class model's too
    st.markdown(f"**{model_name}** says **{call}** — p(with_mask) = {float(probs[0]):.3f}")
    st.image([to_input(face), over, over_mask],
             caption=["the face as the classifier sees it (224 px)", f"Grad-CAM for its call ({call})",
                      "Grad-CAM for with_mask"], width=224)
