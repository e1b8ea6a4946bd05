"""How it works: the pipeline, a convolution you can follow by hand, the model's real feature
maps for a real face, and a glossary."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import streamlit as st

from maskdash import charts
from maskdash.imaging import ImageError, crop_face, load_rgb, to_input
from maskdash.inference import detection
from maskdash.inference.photos import UPLOAD_TYPES
from maskdash.labels import CLASSES
from maskdash.model import convolution
from maskdash.settings import facemask12k_dir
from views.glossary import GLOSSARY, slug
from views.common import data_available, data_hint, get_classifier, get_detector, get_keras_model

PIPELINE_DOT = """
digraph pipeline {
  rankdir=TB; bgcolor="transparent"; nodesep=0.25; ranksep=0.28;
  node [shape=box, style="rounded,filled", fillcolor="#eef4fb", color="#1f77b4", fontname="Helvetica", fontsize=14, width=2];
  edge [color="#555555", fontname="Helvetica", fontsize=11];
  frame [label="camera frame or photo", fillcolor="#ffffff"];
  detect [label="1 · face detector"];
  crop [label="2 · crop, 224×224"];
  cnn [label="3 · MobileNetV2"];
  head [label="4 · head"];
  smooth [label="5 · per-face smoothing"];
  out [label="box + label per face", fillcolor="#ffffff"];
  frame -> detect;
  detect -> crop [label="boxes"];
  crop -> cnn [label="faces"];
  cnn -> head [label="features"];
  head -> smooth [label="p(mask)"];
  smooth -> out;
}
"""
FROM_DATA, UPLOAD = "a face from the data folder", "upload a face photo"
# Layers offered for the feature maps, from the first convolution (112×112) to the last (7×7).
PREFERRED_LAYERS = ["Conv1_relu", "block_1_expand_relu", "block_3_expand_relu", "block_6_expand_relu",
                    "block_10_expand_relu", "block_13_expand_relu", "block_16_project", "out_relu"]


def render_pipeline() -> None:
    st.header("The pipeline")
    st.markdown(
        "Every frame of the camera (or every uploaded photo) goes through the same steps. The classifier "
        "never sees the whole picture, only one face at a time, cropped exactly as in training."
    )
    diagram, steps = st.columns([1, 2], vertical_alignment="center")
    diagram.graphviz_chart(PIPELINE_DOT)
    steps.markdown(
        "1. **Face detector** (YuNet or BlazeFace) finds the faces: a box and a score for each. On photos, "
        "YuNet also looks at enlarged tiles for small faces, and MaskDash's own *face head* — a small "
        "network trained on street photos on top of the same MobileNetV2 — adds masked and blurred faces "
        "YuNet misses; BlazeFace, looking at windows of the photo, proposes large faces that YuNet then "
        "checks with a second look. Last, a third network trained on other photos (CenterFace) must also "
        "see a face in every small box, which drops most boxes on backs of heads, lights and hands.\n"
        "2. **Crop**: each box is made square, widened by 20 %, cut out and resized to 224×224 pixels — "
        "exactly as the training faces were prepared. All faces of a frame go on as one batch.\n"
        "3. **MobileNetV2**, pre-trained on ImageNet with its top blocks fine-tuned on faces, turns each "
        "face into 7×7×1280 features.\n"
        "4. **Head**: the features are pooled and a dense layer with softmax gives three probabilities — "
        "mask worn properly, no mask, mask below the nose — that add up to 1; a face is called *with mask* "
        "when p(with_mask) reaches the threshold (0.5 by default), else the likelier of the other two.\n"
        "5. **Per-face smoothing** (live video only): faces are followed from frame to frame and each "
        "face's label comes from its last few verdicts, so a hand passing the mouth flips one frame, not "
        "the label. A photo has one frame, so its verdict is the classifier's own."
    )


def render_convolution() -> None:
    st.header("What a convolution does")
    st.markdown(
        "A convolutional layer slides a small grid of weights, the **kernel**, over its input. At each "
        "position it multiplies the numbers under the kernel by the weights and adds them up: that sum "
        "is one cell of the output (a *feature map*). A 6×6 input and a 3×3 kernel give a 4×4 output. "
        "The network *learns* its kernels' weights; here you pick them."
    )
    image = convolution.EXAMPLE_IMAGE
    kcol, pcol = st.columns([2, 3])
    kernel_name = kcol.selectbox("Kernel", list(convolution.KERNELS), key="conv_kernel")
    kernel = convolution.KERNELS[kernel_name]
    oh, ow = convolution.output_shape(image, kernel)
    row = pcol.slider("Output row", 0, oh - 1, convolution.EXAMPLE_CELL[0], key="conv_row")
    col = pcol.slider("Output column", 0, ow - 1, convolution.EXAMPLE_CELL[1], key="conv_col")
    out = convolution.convolve_valid(image, kernel)

    g1, g2, g3 = st.columns([6, 3, 4])
    g1.plotly_chart(charts.grid(image, "input (6×6)", highlight=(row, col, 3, 3)), key="conv_in")
    g2.plotly_chart(charts.grid(kernel, "kernel (3×3)", colorscale="RdBu", zmid=0), key="conv_k")
    g3.plotly_chart(charts.grid(out, "output (4×4)", highlight=(row, col, 1, 1), colorscale="Blues"), key="conv_out")
    st.markdown(f"**Output cell (row {row}, column {col})** = sum of input × kernel under the red window:")
    st.code(convolution.arithmetic(image, kernel, row, col), language=None)
    st.caption(
        "The input is the first 36 digits of π. With the X-pattern kernel the top-left cell is "
        "3 + 4 + 6 + 9 + 9 = 31: only the window's corners and centre count. An edge kernel instead "
        "responds where values change from left to right (or top to bottom)."
    )


@st.cache_data(show_spinner=False)
def faces_of_test_split(root: str) -> dict[str, list[str]]:
    """Paths of the Face Mask 12K Test faces per class."""
    from maskdash.data.datasets import list_split

    samples = list_split(root, "Test")
    return {c: [str(s.path) for s in samples if s.label == i] for i, c in enumerate(CLASSES)}


def face_from_data() -> tuple[np.ndarray | None, str]:
    faces_by_class = faces_of_test_split(str(facemask12k_dir()))
    a, b = st.columns(2)
    cls = a.radio("Class", list(faces_by_class), horizontal=True, key="fmap_class")
    paths = faces_by_class[cls]
    if not paths:
        return None, ""
    idx = b.number_input(f"Test image (1–{len(paths)})", 1, len(paths), 1, key=f"fmap_index_{cls}")
    path = paths[int(idx) - 1]
    try:
        return to_input(load_rgb(path)), str(Path(path).relative_to(facemask12k_dir()))
    except ImageError as exc:
        st.error(f"Cannot read {Path(path).name}: {exc}")
        return None, ""


NO_FACE = "no face detected, the whole image is used"


def face_from_upload() -> tuple[np.ndarray | None, str]:
    if not data_available():
        data_hint("Picking a face from Face Mask 12K")
    up = st.file_uploader("A photo with a face (the largest face found is used)",
                          type=UPLOAD_TYPES, key="face_upload")
    if up is None:
        return None, ""
    try:
        rgb = load_rgb(up.getvalue())
    except ImageError as exc:
        st.error(f"Cannot use {up.name}: {exc}")
        return None, ""
    try:
        det, _ = get_detector(detection.default_photo_detector())
        dets = det.detect(rgb)
    except (detection.DetectorUnavailable, ValueError):
        dets = []
    if not dets:
        st.warning(f"No face found in {up.name}: the whole picture is shown to the model as if it were a face. "
                   "The feature maps still show what each layer sees, but a mask score of a picture without "
                   "a face means nothing, so none is shown.", icon=":material/face:")
        return to_input(rgb), f"{up.name}: {NO_FACE}"
    biggest = max(dets, key=lambda d: (d.box[2] - d.box[0]) * (d.box[3] - d.box[1]))
    return crop_face(rgb, biggest.box), f"{up.name}: the largest detected face"


def pick_face() -> tuple[np.ndarray | None, str]:
    """(224×224 face, where it comes from) from the widgets, or (None, "") until there is one."""
    sources = ([FROM_DATA] if data_available() else []) + [UPLOAD]
    source = st.radio("Face", sources, horizontal=True, key="fmap_source")
    return face_from_data() if source == FROM_DATA else face_from_upload()


def render_feature_maps() -> None:
    st.header("Inside the model: feature maps of a real face")
    st.markdown(
        "Each layer of MobileNetV2 turns the face into many feature maps, one per learnt kernel. Early "
        "layers respond to edges and colours; deeper ones, at lower resolution, to parts such as eyes, "
        "a nose or the edge of a mask. Below: the channels of the layer you choose whose response varies "
        "most over the face, for the face you choose. Each map is scaled to its own range (colour bar: "
        "yellow = that channel's strongest response on this face, dark = its weakest)."
    )
    face, source_note = pick_face()
    model = get_keras_model("robust")
    if model is None:
        st.warning("The shipped model (models/robust/model.keras) is missing, so its feature maps cannot be shown.")
        return
    if face is None:
        return
    from maskdash.model import explain
    from maskdash.model.network import get_base

    names = explain.layer_names_4d(get_base(model))
    choices = [n for n in PREFERRED_LAYERS if n in names] or names
    c1, c2 = st.columns([1, 3])
    with c1:
        st.image(face, caption=source_note, width="stretch")
        try:
            if not source_note.endswith(NO_FACE):  # a mask score of a faceless picture means nothing
                p = float(get_classifier().predict(face[None])[0])
                st.metric("p(with_mask)", f"{p:.3f}")
        except (FileNotFoundError, OSError, ValueError):
            pass
        layer = st.selectbox("Layer", choices, index=min(1, len(choices) - 1), key="fmap_layer",
                             help="From the first convolution (112×112) to the last (7×7×1280).")
    try:
        maps = explain.feature_maps(model, face, layer)
    except ValueError as exc:
        c2.error(str(exc))
        return
    # channels whose response varies most over the face show structure; flat ones show nothing
    top = np.argsort(-maps.reshape(-1, maps.shape[-1]).std(axis=0))[:8]
    c2.plotly_chart(charts.feature_maps(maps, sorted(top.tolist()),
                                        title=f"{layer}: {maps.shape[0]}×{maps.shape[1]}, "
                                              f"{maps.shape[2]} channels (the 8 most varied shown)"),
                    key="fmaps")
    c2.caption("MobileNetV2 caps its activations at 6 (ReLU6), so a deep map is often at its cap over a whole "
               "region of the face. Hover a cell for its raw value.")


def render_glossary() -> None:
    st.header("Glossary")
    columns = st.columns(2, gap="large")
    half = (len(GLOSSARY) + 1) // 2  # training and the network left, measuring and the app right
    for i, (group, terms) in enumerate(GLOSSARY.items()):
        with columns[i // half]:
            st.caption(group.upper())
            for term, text in terms.items():
                # a heading with a fixed anchor: the other pages link here (views/glossary.term)
                st.subheader(term, anchor=slug(term), divider=False)
                st.markdown(text)


def main() -> None:
    st.title("How it works")
    render_pipeline()
    render_convolution()
    render_feature_maps()
    render_glossary()


main()
