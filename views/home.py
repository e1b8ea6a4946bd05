"""Home: what MaskDash is, the shipped model at a glance, where to go next."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import streamlit as st

from maskdash.evaluation import shipped
from views.common import data_available, data_hint, pct, reports_hint, safe_report

ROOT = Path(__file__).resolve().parent.parent

st.title("MaskDash")
st.markdown(
    "MaskDash finds the faces in a camera stream or a photo and tells, for each face, whether a "
    "mask is worn. A face detector finds the faces; each face is cropped and classified by a "
    "**MobileNetV2** network fine-tuned on the *Face Mask 12K* data set. It rebuilds a system that "
    "reported **97.62 %** validation accuracy and checks that figure: on duplicate-free test "
    "images, on real street photos, and against the shortcuts the data invites (blurry faces "
    "are unmasked ones; side views are masked ones)."
)

st.header("The shipped model at a glance")
robust = safe_report(shipped.load_metrics, "robust")
seed = safe_report(shipped.load_metrics, "seed")
args = safe_report(shipped.load_args, "robust")

if robust is None:
    reports_hint("robust", "evaluation report (metrics.json)")
else:
    sets = robust.get("sets", {})
    tiles = [
        ("Test accuracy (robust, shipped)", pct(shipped.test_accuracy(robust)),
         f"Face Mask 12K Test split, {sets.get('test', {}).get('n', '?')} faces, threshold "
         f"{robust.get('threshold', 0.5)}"),
        ("Original system (reported)", pct(shipped.ORIGINAL_ACCURACY),
         "Validation accuracy reported for the original v2 model (brightness augmentation); "
         "v1 without augmentation: 93.76 %."),
    ]
    if "test_dedup" in sets:
        tiles.append(("Test without duplicates", pct(sets["test_dedup"].get("accuracy")),
                      "Test images that also appear in Train (byte-identical or near-duplicate) removed."))
    if "dev_scenes_holdout" in sets:
        tiles.append(("Real photos, holdout (balanced)", pct(sets["dev_scenes_holdout"].get("balanced_accuracy")),
                      "Balanced accuracy on the faces of real street photos the model never learnt from "
                      "(ground-truth boxes)."))
    for col, (label, value, why) in zip(st.columns(4), tiles):
        col.metric(label, value, help=why)

    trained = []
    if args:
        epochs = args.get("epochs")
        trained.append(f"**Face Mask 12K** `{args.get('train_split', 'Train')}` split"
                       + (f", validated on `{args.get('val_split', 'Validation')}`" if args.get("val_split") else ""))
        if args.get("dev_scenes") or (args.get("pack") or {}).get("scene_faces"):
            trained.append("plus the faces of the *train* fold of the dev street photos (the *holdout* fold is kept for evaluation)")
        if epochs:
            trained.append(f"{epochs} epochs, batch {args.get('batch_size', '?')}, learning rate {args.get('lr')} "
                           f"then {args.get('fine_tune_lr')} for fine-tuning")
        st.markdown("Trained on " + "; ".join(trained) + ".")
    st.caption(f"Report generated {robust.get('generated', '(date unknown)')} · model `{robust.get('model', '?')}`")

st.subheader("Seed vs robust")
st.markdown(
    "- **seed** repeats the original recipe: the ImageNet MobileNetV2 base frozen, a dense head on top.\n"
    "- **robust** (shipped) adds augmentation against the resolution and pose shortcuts and against "
    "'anything over the mouth is a mask', fine-tunes most of the base (blocks 3–16), and also learns "
    "from real street-photo faces."
)
rows = []
for name, m in (("robust", robust), ("seed", seed)):
    if m is None:
        continue
    s = m.get("sets", {})
    probe = m.get("probes", {}).get("resolution", {}).get("32", {})
    rows.append({
        "model": shipped.RECIPE_TITLES[name],
        "Test accuracy": pct(s.get("test", {}).get("accuracy")),
        "Test, no duplicates": pct(s.get("test_dedup", {}).get("accuracy")),
        "Validation": pct(s.get("validation", {}).get("accuracy")),
        "Real photos, holdout (balanced)": pct(s.get("dev_scenes_holdout", {}).get("balanced_accuracy")),
        "Faces shrunk to 32 px": pct(probe.get("accuracy")),
    })
rows.append({"model": "original (reported)", "Test accuracy": "–", "Test, no duplicates": "–",
             "Validation": pct(shipped.ORIGINAL_ACCURACY), "Real photos, holdout (balanced)": "–",
             "Faces shrunk to 32 px": "–"})
st.dataframe(pd.DataFrame(rows).set_index("model"), width="stretch")
if seed is None:
    st.caption("The seed model's report is not committed yet (models/seed/metrics.json).")

st.header("Where to go next")
LINKS = [
    ("views/live.py", "Live", ":material/videocam:", "the camera, face by face, in real time"),
    ("views/photos.py", "Photos", ":material/photo_library:", "upload photos, get boxes, labels and a CSV"),
    ("views/training.py", "Training", ":material/show_chart:", "loss, accuracy and learning rate per epoch"),
    ("views/evaluation.py", "Evaluation", ":material/fact_check:", "confusion matrices, ROC, calibration, a live threshold"),
    ("views/failure_analysis.py", "Failure analysis", ":material/troubleshoot:", "where and why the model is wrong"),
    ("views/how_it_works.py", "How it works", ":material/school:", "the pipeline, convolutions, feature maps, a glossary"),
]
for path, label, icon, what in LINKS:
    if (ROOT / path).is_file():
        c1, c2 = st.columns([1, 3])
        with c1:
            st.page_link(path, label=label, icon=icon)
        c2.markdown(what)

if not data_available():
    data_hint("Browsing real faces (Evaluation examples, How it works feature maps)")
