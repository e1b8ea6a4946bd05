"""Photos: upload one or many photos → faces boxed, numbered and labelled, a per-face table,
a summary per photo and for the batch, downloads."""

from __future__ import annotations

import streamlit as st

from maskdash.evaluation import shipped
from maskdash.imaging import load_rgb
from maskdash.inference import detection
from maskdash.inference.draw import annotate_numbered
from maskdash.inference.photos import (ANSWERS, UPLOAD_TYPES, PhotoError, annotated_png, answer, counts, decode_view,
                                       display_copy, drawn_words, download_name, encode_view, face_table, limits_text,
                                       no_face_advice, photos_csv, plain_markdown, process_upload, summary_line,
                                       summary_metrics, view_copy, view_width)
from maskdash.inference.results import Results, results_csv
from views.glossary import term
from views.common import get_classifier, get_detector, safe_report

st.title("Photos")
st.markdown(
    "Upload photos (JPEG, PNG, WebP, BMP, GIF, TIFF). Each face is found by the detector "
    f"({term('BlazeFace / YuNet', 'YuNet')}, over the photo and enlarged tiles of it, joined by MaskDash's "
    "own face head for masked and blurred faces, each small box checked by a second detector), cropped "
    "and classified; you get the photo with numbered boxes (the number is the face's row in the "
    "table; where there is room, the label and the model's confidence in that label follow it), a table "
    "of the faces and downloads. Green: mask, red: no mask, orange: a mask worn "
    "below the nose (a three-class model). Files stay in this session's memory only."
)

with st.sidebar:
    st.subheader("Photo settings")
    names = list(detection.DETECTORS)
    default = detection.default_photo_detector()
    det_name = st.selectbox("Face detector", names, index=names.index(default),
                            format_func=lambda n: detection.LABELS.get(n, n),
                            help="YuNet + face head finds the most faces in crowds (YuNet over the photo and "
                                 "enlarged tiles, plus MaskDash's own face head for the masked and blurred faces "
                                 "YuNet misses); BlazeFace short range is made for faces at webcam distance.")
    det_threshold = st.slider("Detector score threshold", 0.05, 0.95,
                              float(detection.DEFAULT_THRESHOLDS.get(det_name, 0.5)), 0.05, key=f"det_thr_{det_name}",
                              help="Lower finds more faces (and more false ones). Masked faces score lower "
                                   "than bare ones on every detector. Every face kept scores at least this "
                                   "much (the face head's scores are put on YuNet's scale).")
    if det_threshold < detection.DEFAULT_THRESHOLDS.get(det_name, 0.5) - 1e-9:
        # val street photos, YuNet + face head: 0.4 found 3 % more faces for twice the false boxes,
        # 0.1 found 5 % more for nine times as many
        st.caption(":material/warning: Below the default, each extra face found comes with several boxes "
                   "on things that are not faces: a face count then grows faster than the faces.")
    mask_threshold = st.slider("Mask threshold: with_mask when p(with_mask) ≥", 0.05, 0.95, 0.5, 0.05)
    answers = st.radio("Answers", ANSWERS, index=0, key="photo_answers",
                       help="Three classes: with mask, without, mask below the nose (when the model knows "
                            "it). Compliant / not compliant: only a mask worn over the nose is compliant.")
    blur = st.checkbox("Blur the faces in the downloaded images", value=False, key="photo_blur",
                       help="Each face is pixelated in the annotated downloads; boxes, numbers and labels are "
                            "kept. Faces the detector missed are not blurred. The CSV never holds image data.")

UPLOAD_MB = st.get_option("server.maxUploadSize")
files = st.file_uploader("Photos", type=UPLOAD_TYPES, accept_multiple_files=True,
                         help=f"Up to {UPLOAD_MB} MB per file. The uploader itself refuses a larger file: it "
                              "marks its name red and the file never reaches the app.")
if not files:
    st.info(f"Drop one or more photos above to start (up to {UPLOAD_MB} MB each; a larger file is refused by the "
            "uploader and marked red in its list).", icon=":material/upload:")
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

# Results survive reruns (a download click, a highlighted face): keyed by the file and every
# setting that changes them. The session keeps the picture at the page's drawing size only;
# full-size downloads are drawn again from the upload when clicked.
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
        view = None
        if isinstance(res, Results):
            # kept compressed (~0.3 MB instead of ~6 MB for a 12 MP photo): Streamlit holds a closed
            # tab's session for a while, so what a session keeps must stay small
            view, res.rgb = encode_view(view_copy(res.rgb)), None
        cache[key] = {"res": res, "view": view}
    bar.empty()

entries = [(cache[k], f) for k, f in zip(keys, files)]
good = [e["res"] for e, _ in entries if isinstance(e["res"], Results)]
bad = [e["res"] for e, _ in entries if isinstance(e["res"], PhotoError)]
batch = counts(good)

figures = summary_metrics(batch, answers)
cols = st.columns(1 + len(figures))
cols[0].metric("Photos analysed", f"{len(good)} of {len(entries)}")
for col, (label, value, help_text) in zip(cols[1:], figures):
    col.metric(label, value, help=help_text)
faces_col, photos_col = st.columns(2)
if good:
    faces_col.download_button("Download the faces of all photos (CSV)", results_csv(good), "maskdash_faces.csv",
                              "text/csv", icon=":material/download:", on_click="ignore")
if entries:  # also when no file could be read: the list of files and why is what the user needs then
    photos_col.download_button("Download a row per photo (CSV)", photos_csv([e["res"] for e, _ in entries]),
                               "maskdash_photos.csv", "text/csv", icon=":material/download:", on_click="ignore",
                               help="Each file with its counts, photos without faces and files that could not "
                                    "be read included (with the reason).")
if good:
    # Beside the counts it qualifies (at the foot of a crowd batch it sat thousands of pixels down).
    scenes = safe_report(shipped.load_scenes, "robust")
    if scenes:
        st.info("**How far to trust a count.** " + limits_text(scenes, detector.name), icon=":material/info:")
for err in bad:
    st.error(f"**{plain_markdown(err.name)}**: {err.message}", icon=":material/broken_image:")


def full_size_png(res: Results, upload, blur: bool, answers: str):
    """The annotated photo at its original resolution, as a callable the download button runs on
    click: drawn from the upload again, so the session never holds full-size pictures (a 12 MP
    PNG is ~20 MB, and Streamlit keeps a closed tab's session for a while)."""
    faces = list(res.faces)
    return lambda: annotated_png(load_rgb(upload.getvalue()), faces, blur=blur, answers=answers)


def render_photo(i: int, entry: dict, upload) -> None:
    res: Results = entry["res"]
    name = plain_markdown(res.source)  # a file name is text, never Markdown
    st.subheader(name)
    for note in res.notes:
        st.info(note, icon=":material/info:")
    w, h = res.size
    view = decode_view(entry["view"])
    scale = view.shape[1] / w
    highlight = None
    if res.faces:
        st.markdown(summary_line(counts([res]), answers))
        options = [None, *range(len(res.faces))]
        select_key = f"hl_{upload.file_id}"  # by the upload, not its place: removing another file keeps it
        if st.session_state.get(select_key) not in options:  # e.g. face 60 gone at a stricter threshold
            st.session_state[select_key] = None
        highlight = st.selectbox(
            "Highlight a face (or select its row in the table)", options, key=select_key,
            format_func=lambda k: "none" if k is None else
            f"face {k} · {answer(res.faces[k].label, answers)} · p(with_mask) {res.faces[k].p_mask:.2f}")
    drawn, _ = annotate_numbered(view, res.faces, scale=scale, highlight=highlight, words=drawn_words(answers))
    st.image(display_copy(drawn), caption=f"{name} · {w}×{h} px · {len(res.faces)} face(s)", width=view_width(w, h))
    if res.faces:
        table = face_table(res, answers)
        table_key = f"faces_{upload.file_id}"

        def pick_row(table_key=table_key, select_key=f"hl_{upload.file_id}") -> None:
            # a row selected in the table becomes the highlighted face (the selectbox follows)
            rows = st.session_state[table_key].selection.rows
            st.session_state[select_key] = rows[0] if rows else None

        st.dataframe(table, hide_index=True, width="stretch", height="content" if len(table) <= 12 else "auto",
                     key=table_key, on_select=pick_row, selection_mode="single-row",
                     # Bars in the boxes' colours: green from 0.5 up (a mask), red below; orange for p(below the nose).
                     column_config={"p_mask": st.column_config.ProgressColumn(
                         "p(with_mask)", min_value=0.0, max_value=1.0, format="%.3f", color="auto"),
                         "p_incorrect": st.column_config.ProgressColumn(
                         "p(mask_incorrect)", min_value=0.0, max_value=1.0, format="%.3f", color="orange",
                         help="p(mask below the nose), from a three-class model"),
                         "face": st.column_config.NumberColumn(width="small"),
                         "detector score": st.column_config.NumberColumn(
                             format="%.3f", help="How sure the detector is of the face (at least the slider's "
                             "value). YuNet + face head reports the face head's faces on YuNet's scale: its "
                             "own scores run lower")})
    else:
        st.warning(no_face_advice(res.size, detector.name, detection.default_photo_detector(), detection.LABELS),
                   icon=":material/face:")
    st.download_button(f"Download the annotated image ({w}×{h} px)" + (" (faces blurred)" if blur else ""),
                       full_size_png(res, upload, blur, answers), download_name(res.source, "_masks_blurred.png" if blur else "_masks.png"),
                       "image/png", key=f"dl_{i}_{res.source}_{blur}_{answers}", icon=":material/download:", on_click="ignore")


for i, (entry, upload) in enumerate(entries):
    if isinstance(entry["res"], Results):
        render_photo(i, entry, upload)

