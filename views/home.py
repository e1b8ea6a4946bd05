"""Home: what MaskDash is, the shipped model at a glance, where to go next."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import streamlit as st

from maskdash.evaluation import shipped
from maskdash.inference import detection
from maskdash.settings import display_path
from views.common import data_available, data_hint, pct, reports_hint, safe_report

ROOT = Path(__file__).resolve().parent.parent

LINKS = [
    ("views/live.py", "Live", ":material/videocam:", "the camera, face by face, in real time"),
    ("views/photos.py", "Photos", ":material/photo_library:", "upload photos, get boxes, labels and a CSV"),
    ("views/training.py", "Training", ":material/show_chart:", "loss, accuracy and learning rate per epoch; "
                                                               "download the model"),
    ("views/evaluation.py", "Evaluation", ":material/fact_check:", "confusion matrices, ROC, calibration, a live threshold"),
    ("views/failure_analysis.py", "Failure analysis", ":material/troubleshoot:", "where and why the model is wrong"),
    ("views/how_it_works.py", "How it works", ":material/school:", "the pipeline, convolutions, feature maps, a glossary"),
]


# A real-photo holdout scene (CC0, never trained on) with masked and unmasked people side by side.
EXAMPLE_SCENE = "maksssksksss164.jpg"


@st.cache_data(show_spinner="Finding the faces in an example photo…")
def example_picture(path: str) -> tuple[bytes, int, int, int] | None:
    """The app's own output on one dev photo: PNG bytes, faces found, masked, worn below the nose. Made here from
    the data (the project's git holds no data-set pictures); None when it cannot be read."""
    from maskdash.imaging import ImageError, load_rgb
    from maskdash.inference.detection import default_photo_detector
    from maskdash.inference.draw import annotate_numbered
    from maskdash.inference.faces import analyse
    from maskdash.inference.photos import encode_png, view_copy
    from maskdash.labels import INCORRECT, WITH_MASK
    from views.common import get_classifier, get_detector

    try:
        rgb = load_rgb(path)
    except ImageError:
        return None
    detector, _ = get_detector(default_photo_detector())
    res = analyse(rgb, Path(path).name, detector, get_classifier())
    view = view_copy(rgb)
    image, _ = annotate_numbered(view, res.faces, scale=view.shape[1] / rgb.shape[1])
    return (encode_png(image), len(res.faces), sum(f.label == WITH_MASK for f in res.faces),
            sum(f.label == INCORRECT for f in res.faces))


def render_example() -> None:
    """The first screen shows what the app does, on a real photo, when the data is here."""
    from maskdash import settings

    path = settings.dev_scenes_dir() / "images" / EXAMPLE_SCENE
    if not path.is_file():
        return
    try:
        found = example_picture(str(path))
    except Exception:  # noqa: BLE001 - a picture on Home must never break the page
        found = None
    if found is None:
        return
    png, n, masked, below = found
    below_text = f"{below} with a mask below the nose (orange), " if below else ""
    st.image(png, width="stretch",
             caption=f"What the Photos page does, on a real street photo it never learnt from: {n} faces found, "
                     f"{masked} with a mask (green), {below_text}{n - masked - below} without (red); each number is "
                     "that face's row in the Photos page's table.")


def render_intro() -> None:
    st.title("MaskDash")
    st.markdown(
        "MaskDash finds the faces in a camera stream or a photo and tells, for each face, whether a "
        "mask is worn. A face detector finds the faces; each face is cropped and classified by a "
        "**MobileNetV2** network fine-tuned on the *Face Mask 12K* data set. It rebuilds a system that "
        "reported **97.62 %** validation accuracy and checks that figure: on duplicate-free test "
        "images, on real street photos, and against the shortcuts the data invites (blurry faces "
        "are unmasked ones; side views are masked ones)."
    )


def crop_tiles(robust: dict) -> list[tuple[str, str, str]]:
    """(label, value, help) of the figures measured on face crops cut from labelled boxes."""
    sets = robust.get("sets", {})
    tiles = [
        ("Test accuracy (robust, shipped)", pct(shipped.test_accuracy(robust)),
         f"Face Mask 12K Test split, {sets.get('test', {}).get('n', '?')} faces, threshold "
         f"{robust.get('threshold', 0.5)}"),
        ("Original system (reported)", pct(shipped.ORIGINAL_ACCURACY),
         "Validation accuracy reported for the original v2 model (brightness augmentation); "
         f"v1 without augmentation: {pct(shipped.ORIGINAL_V1_ACCURACY)}."),
    ]
    if "test_dedup" in sets:
        tiles.append(("Test without duplicates", pct(sets["test_dedup"].get("accuracy")),
                      "Test images that also appear in Train (byte-identical or near-duplicate) removed."))
    if "dev_scenes_holdout" in sets:
        tiles.append(("Real photos, holdout (balanced)", pct(sets["dev_scenes_holdout"].get("balanced_accuracy")),
                      "Balanced accuracy on the faces of real street photos the model never learnt from, "
                      "cut from their labelled boxes (the detector is not involved)."))
    return tiles


def render_pipeline_tiles(scenes: dict) -> None:
    """The dev holdout through detector + classifier (`python -m maskdash scenes --fold holdout`):
    faces found and labelled right, and found, among all labelled faces."""
    a = scenes["all"]
    detector = scenes["detector"]
    st.metric("Found and labelled right", pct(a.get("right_share"), 1),
              help=f"{a.get('right', '?'):,} of the {a['n']:,} labelled faces of the {scenes['images']} holdout street "
                   f"photos were found by {detector} (a detection overlapping the labelled box, IoU ≥ "
                   f"{scenes['min_iou']}) and given the right verdict; masks worn below the nose count as right "
                   "when not called with_mask.")
    st.metric("Faces found on real photos", pct(a.get("found_share"), 1),
              help=f"{a['found']:,} of {a['n']:,} faces found by {detector}; "
                   f"{scenes['false_positives_per_image']:.2f} false detections per photo.")
    small = shipped.small_face_limit(scenes)
    misses = (f"; faces under {small['max_px']} px tall: {pct(small['right'], 0)}" if small else "")
    st.caption(f"Detector: {detection.LABELS.get(detector, detector)}. The crop figures start from the labelled boxes; this one also counts "
               f"the faces the detector misses and the masks worn incorrectly{misses}.")


def training_sentence(args: dict) -> str:
    trained = [f"**Face Mask 12K** `{args.get('train_split', 'Train')}` split"
               + (f", validated on `{args.get('val_split')}`" if args.get("val_split") else "")]
    if args.get("dev_scenes") or (args.get("pack") or {}).get("scene_faces"):
        trained.append("plus the faces of the *train* fold of the dev street photos (the *holdout* fold is kept for evaluation)")
    if args.get("epochs"):
        ft, head = args.get("fine_tune_lr"), args.get("head_epochs")
        rate = (f"learning rate {args.get('lr')}" if not ft  # the head alone learns
                else f"fine-tuning at {ft} from an earlier model" if args.get("init") and not head
                else f"learning rate {args.get('lr')} then {ft} for fine-tuning")
        trained.append(f"{args['epochs']} epochs, batch {args.get('batch_size', '?')}, {rate}")
    return "Trained on " + "; ".join(trained) + "."


def render_glance(robust: dict | None, args: dict | None) -> None:
    st.header("The shipped model at a glance")
    if robust is None:
        reports_hint("robust", "evaluation report (metrics.json)")
        return
    pipe = safe_report(shipped.load_scenes, "robust")
    crops, whole = st.columns([2, 1], gap="large") if pipe else (st.container(), None)
    with crops:
        st.markdown("**Face crops** cut from labelled boxes")
        tiles = crop_tiles(robust)
        for i in range(0, len(tiles), 2):
            for col, (label, value, why) in zip(st.columns(2), tiles[i:i + 2]):
                col.metric(label, value, help=why)
    if whole is not None:
        with whole:
            st.markdown("**Whole pipeline** on real photos: detector, crop, classifier")
            render_pipeline_tiles(pipe)
    if args:
        st.markdown(training_sentence(args))
    model = display_path(robust["model"]) if robust.get("model") else "?"
    st.caption(f"Report generated {robust.get('generated', '(date unknown)')} · model `{model}`")


def comparison_table(robust: dict | None, seed: dict | None) -> pd.DataFrame:
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
    return pd.DataFrame(rows).set_index("model")


def _called_mask(table: pd.DataFrame | None, obj: str) -> float | None:
    if table is None:
        return None
    row = table[table["object"] == obj]
    return float(row["called_with_mask"].iloc[0]) if len(row) else None


def why_sentence(robust: dict, seed: dict, occluders: dict[str, pd.DataFrame | None]) -> str | None:
    """One sentence: why the original recipe beats the shipped model on Test, and why the shipped
    one is still the better model. Every figure comes from the committed reports; a part whose
    figures are missing is left out. None without both Test figures."""
    r_test, s_test = shipped.test_accuracy(robust), shipped.test_accuracy(seed)
    if r_test is None or s_test is None:
        return None
    n = robust["sets"]["test"].get("n", 0)
    apart = round(abs(s_test - r_test) * n)
    better = []
    r_sets, s_sets = robust.get("sets", {}), seed.get("sets", {})
    if "dev_scenes_holdout" in r_sets and "dev_scenes_holdout" in s_sets:
        better.append(f"on real street photos ({pct(r_sets['dev_scenes_holdout']['balanced_accuracy'], 1)} against "
                      f"{pct(s_sets['dev_scenes_holdout']['balanced_accuracy'], 1)} balanced accuracy)")
    r_small, s_small = shipped.smallest_faces(robust), shipped.smallest_faces(seed)
    if r_small and s_small:
        better.append(f"on small faces (unmasked faces under {r_small['max_px']} px tall recognised "
                      f"{pct(r_small['recall_without_mask'], 0)} against {pct(s_small['recall_without_mask'], 0)})")
    r_phone, s_phone = _called_mask(occluders.get("robust"), "phone"), _called_mask(occluders.get("seed"), "phone")
    if r_phone is not None and s_phone is not None:
        better.append(f"with objects over the mouth (a phone there is called a mask {pct(r_phone, 0)} of the "
                      f"time, against {pct(s_phone, 0)})")
    lead = (f"The original recipe scores {pct(s_test)} on Test and the shipped model {pct(r_test)} "
            f"({apart} of {n:,} faces apart) because Test comes from the same web photos as the training "
            "images and rewards their shortcuts, which the original learns")
    if not better:
        return lead + "."
    return (lead + "; the shipped model was trained against those shortcuts and is the better model where "
            "the app is used: " + ", ".join(better[:-1]) + (" and " if len(better) > 1 else "")
            + better[-1] + ".")


def render_comparison(robust: dict | None, seed: dict | None) -> None:
    st.subheader("Seed vs robust")
    st.markdown(
        "- **seed** repeats the original recipe: the ImageNet MobileNetV2 base frozen, a dense head on top.\n"
        "- **robust** (shipped) adds augmentation against the resolution and pose shortcuts and against "
        "'anything over the mouth is a mask', fine-tunes most of the base, and also learns "
        "from real street-photo faces."
    )
    st.dataframe(comparison_table(robust, seed), width="stretch")
    if seed is None:
        st.caption("The seed model's report is not committed yet (models/seed/metrics.json).")
    elif robust is not None:
        occluders = {r: safe_report(shipped.load_occluders, r) for r in shipped.RECIPES}
        sentence = why_sentence(robust, seed, occluders)
        if sentence:
            st.markdown(sentence)


def render_links() -> None:
    st.header("Where to go next")
    for path, label, icon, what in LINKS:
        if (ROOT / path).is_file():
            c1, c2 = st.columns([1, 3])
            with c1:
                st.page_link(path, label=label, icon=icon)
            c2.markdown(what)
    if not data_available():
        data_hint("Browsing real faces (Evaluation examples, How it works feature maps)")


def main() -> None:
    render_intro()
    render_example()
    robust = safe_report(shipped.load_metrics, "robust")
    seed = safe_report(shipped.load_metrics, "seed")
    render_glance(robust, safe_report(shipped.load_args, "robust"))
    render_comparison(robust, seed)
    render_links()


main()
