"""Photos: upload one or many photos → faces boxed and labelled, a per-face table, downloads."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from maskdash.inference import detection
from maskdash.inference.photos import (UPLOAD_TYPES, PhotoError, display_copy, download_name, encode_png, plain_markdown,
                                       process_upload)
from maskdash.inference.results import Results, results_csv
from maskdash.labels import WITH_MASK
from views.common import get_classifier, get_detector


st.title("Photos")
st.markdown(
    "Upload photos (JPEG, PNG, WebP, BMP, GIF, TIFF). Each face is found by the detector, cropped "
    "and classified; you get the photo with boxes, a table of the faces and downloads. Files stay "
    "in this session's memory only."
)

with st.sidebar:
    st.subheader("Photo settings")
    names = list(detection.DETECTORS)
    default = detection.default_photo_detector()
    det_name = st.selectbox("Face detector", names, index=names.index(default),
                            format_func=lambda n: detection.LABELS.get(n, n),
                            help="YuNet finds masked and distant faces best; BlazeFace short range is made "
                                 "for faces at webcam distance.")
    det_threshold = st.slider("Detector score threshold", 0.05, 0.95,
                              float(detection.DEFAULT_THRESHOLDS.get(det_name, 0.5)), 0.05, key=f"det_thr_{det_name}",
                              help="Lower finds more faces (and more false ones). Masked faces score lower "
                                   "than bare ones on every detector.")
    mask_threshold = st.slider("Mask threshold: with_mask when p(with_mask) ≥", 0.05, 0.95, 0.5, 0.05)

files = st.file_uploader("Photos", type=UPLOAD_TYPES, accept_multiple_files=True)
if not files:
    st.info("Drop one or more photos above to start.", icon=":material/upload:")
    st.stop()

try:
    classifier = get_classifier()
except (FileNotFoundError, OSError, ValueError) as exc:
    st.error(f"The mask classifier could not be loaded: {exc}. The shipped model belongs in "
             "`models/robust/` (model.tflite or model.keras); `MASKDASH_MODEL` chooses another file.", icon=":material/error:")
    st.stop()
try:
    detector, det_note = get_detector(det_name)
except (detection.DetectorUnavailable, ValueError) as exc:
    st.error(f"No face detector is available: {exc}", icon=":material/error:")
    st.stop()
if det_note:
    st.warning(det_note)
    det_threshold = None  # the chosen detector's threshold means little for the fallback

# Results survive reruns (a download click, a widget change elsewhere): keyed by the file and
# every setting that changes them.
cache: dict = st.session_state.setdefault("photo_results", {})
keys = [(f.file_id, f.name, detector.name, det_threshold, mask_threshold) for f in files]
for stale in set(cache) - set(keys):
    del cache[stale]

todo = [(f, k) for f, k in zip(files, keys) if k not in cache]
if todo:
    bar = st.progress(0.0, text="Analysing…")
    for i, (f, key) in enumerate(todo):
        bar.progress(i / len(todo), text=f"Analysing {plain_markdown(f.name)} ({i + 1} of {len(todo)})")
        res = process_upload(f.name, f.getvalue(), detector, classifier, det_threshold, mask_threshold)
        if isinstance(res, Results):
            annotated = res.annotated()
            png = encode_png(annotated)  # the download keeps full resolution
            res.rgb = display_copy(annotated)  # the session keeps only a display-size copy
            cache[key] = (res, png)
        else:
            cache[key] = (res, None)
    bar.empty()

entries = [cache[k] for k in keys]
good = [e[0] for e in entries if isinstance(e[0], Results)]
bad = [e[0] for e in entries if isinstance(e[0], PhotoError)]
n_faces = sum(len(r.faces) for r in good)
n_mask = sum(f.label == WITH_MASK for r in good for f in r.faces)

c1, c2, c3, c4 = st.columns(4)
c1.metric("Photos analysed", f"{len(good)} of {len(entries)}")
c2.metric("Faces found", n_faces)
c3.metric("With mask", n_mask)
c4.metric("Without mask", n_faces - n_mask)
if good:
    st.download_button("Download the faces of all photos (CSV)", results_csv(good), "maskdash_faces.csv",
                       "text/csv", icon=":material/download:", on_click="ignore")
for err in bad:
    st.error(f"**{plain_markdown(err.name)}**: {err.message}", icon=":material/broken_image:")

for i, (res, png) in enumerate(entries):
    if not isinstance(res, Results):
        continue
    name = plain_markdown(res.source)  # a file name is text, never Markdown
    st.subheader(name)
    for note in res.notes:
        st.info(note, icon=":material/info:")
    left, right = st.columns([2, 3])
    w, h = res.size
    left.image(res.rgb, caption=f"{name} · {w}×{h} px · {len(res.faces)} face(s)", width="stretch")
    with right:
        if res.faces:
            t = res.table()
            table = pd.DataFrame({
                "face": t["face"], "label": t["label"], "p_mask": t["p_mask"], "detector score": t["det_score"],
                "box (x1, y1, x2, y2)": [f"{a}, {b}, {c}, {d}" for a, b, c, d in zip(t["x1"], t["y1"], t["x2"], t["y2"])],
            })
            st.dataframe(table, hide_index=True, width="stretch",
                         column_config={"p_mask": st.column_config.ProgressColumn(
                             "p(with_mask)", min_value=0.0, max_value=1.0, format="%.3f"),
                             "face": st.column_config.NumberColumn(width="small"),
                             "detector score": st.column_config.NumberColumn(format="%.3f")})
        else:
            st.warning("No face found in this photo. Try YuNet or a lower detector threshold; faces "
                       "smaller than about 20 pixels, or strongly turned away, are rarely found.",
                       icon=":material/face:")
        st.download_button("Download the annotated image", png, download_name(res.source), "image/png",
                           key=f"dl_{i}_{res.source}", icon=":material/download:", on_click="ignore")
