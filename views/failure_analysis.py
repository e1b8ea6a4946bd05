"""Failure analysis: the original app's reported failures, measured (angles, objects and real hands
over the mouth, masks below the nose, distance, light, a dim webcam), the gallery of mistakes,
Grad-CAM on any face, and the data audit.

The study tables come from `python -m maskdash analyze` (models/analysis/<model>/), read through
maskdash.analysis.results; the audit and predictions through maskdash.evaluation.shipped; every
figure from maskdash.charts. Example faces, gallery faces and Grad-CAM are cut from the data
folder when it is present."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import streamlit as st

from maskdash import charts, settings
from maskdash.analysis import studies
from maskdash.analysis.results import analysis_root, headlines, load_results, result_names, table, with_study
from maskdash.analysis.yaw import YAW_METHOD
from maskdash.evaluation import shipped
from maskdash.imaging import ImageError
from views.glossary import term
from views.common import data_available, data_hint, pct, safe_report
from views.failure_common import (dashes, example_faces, few_note, listed_examples, no_results, show_examples,
                                  subsample_note, tables)
from views.failure_more import below_nose_tab, dim_webcam_tab, hands_tab
from views.gallery import face_of, mistakes_gallery
from views.gradcam import explain_face, uploaded_face
from views.audit import audit_tab
from views.lighting import lighting_tab


def angle_examples(results: dict[str, dict], names: list[str], source: str, shown: pd.DataFrame,
                   have_data: bool) -> None:
    """The recorded angle examples of this source that are rows of the table above, each face
    once with every model's p(mask)."""
    found = [ex[(ex["study"] == "angles") & (ex["source"] == source)].assign(model=n)
             for n in names if (ex := table(results[n], "examples")) is not None]
    ex = pd.concat(found, ignore_index=True) if found else pd.DataFrame()
    if not len(ex):
        return
    faces_col = shown["face"] if "face" in shown else pd.Series(0, index=shown.index)
    in_table = set(zip(shown["path"].astype(str), faces_col.astype(int)))
    ex = ex[[(str(p), int(f)) in in_table for p, f in zip(ex["path"], ex["face"])]]
    faces = []
    for (path, face), g in ex.groupby(["path", "face"], sort=False):
        first = g.iloc[0]
        said = ", ".join(f"{m} {float(p):.2f}" for m, p in zip(g["model"], g["p_mask"]))
        faces.append((first, f"{first['detail']} · {first['truth']} · p(mask) {said}"))
    st.markdown("**The most turned of them, as BlazeFace saw them**")
    if have_data:
        show_examples(None, faces)
        st.caption("Dots: eyes (cyan), nose (red), mouth (orange), ears (green) as BlazeFace placed them.")
    else:
        listed_examples([{"example": r["detail"], "truth": r["truth"], "p(mask)": c.split("p(mask) ")[-1]}
                         for r, c in faces])


def glance(results: dict[str, dict]) -> None:
    at = pd.DataFrame({n: headlines(r["summary"]) for n, r in results.items()}).dropna(how="all")
    if len(at):
        st.subheader("At a glance")
        # the row names are whole sentences ("mask below the nose (real, dev scenes): called …"):
        # a wide index column shows them instead of cutting them off
        st.dataframe(at.map(lambda v: pct(v, 1)), height=35 * (len(at) + 1) + 3,
                     column_config={"_index": st.column_config.Column(width="large")})
        st.caption("Shares of faces, from the studies below (subsampled; see each tab for n).")


def angles_tab(results: dict[str, dict], have_data: bool) -> None:
    st.subheader("Does turning the head read as a mask?")
    names = with_study(results, "angles")
    if not names:
        return no_results("angles")
    block = results[names[0]]["summary"]["studies"]["angles"]
    st.caption(block.get("method", YAW_METHOD))
    source = st.radio("Faces", ["test", "dev_scenes"], horizontal=True, key="angles_source",
                      format_func={"test": "Face Mask 12K Test crops",
                                   "dev_scenes": "Dev scenes (real photos, holdout fold)"}.get)
    dev_note = (block.get("dev_scenes") or {}).get("note")
    if source == "dev_scenes" and dev_note:  # the Test sample's note would describe other faces
        st.caption(f"Dev-scene faces: {dev_note}.")
    else:
        subsample_note(results, names)
    bins = {n: b[b["source"] == source] for n, b in tables(results, names, "angles_bins").items()}
    bins = {n: b for n, b in bins.items() if len(b)}
    if bins:
        c1, c2 = st.columns(2)
        c1.plotly_chart(charts.yaw_accuracy(bins), key="angles_acc")
        c2.plotly_chart(charts.yaw_p_mask(bins), key="angles_p")
        few_note(pd.concat(bins.values()).query("truth == 'all'"))
    else:
        st.info("No faces from this source in the results (the dev scenes may have been missing).")
    rows = []
    for n in names:
        blk = results[n]["summary"]["studies"]["angles"]["sources"].get(source)
        if blk:
            rows.append({"model": n, "faces": blk["faces"], "landmarks found": pct(blk["detected"], 0),
                         **{f"median |yaw| ({t})": "–" if v is None else f"{v:.0f}°"
                            for t, v in blk["median_abs_yaw_by_truth"].items()}})
    if rows:
        st.dataframe(pd.DataFrame(rows), hide_index=True)
    st.markdown("**The most turned faces and what each model said**")
    merged = None
    for n, f in tables(results, names, "angles_faces").items():
        f = f[(f["source"] == source) & f["detected"].astype(bool)][["path", "face", "truth", "yaw", "p_mask"]]
        f = f.rename(columns={"p_mask": f"p(mask) {n}"})
        merged = f if merged is None else merged.merge(f.drop(columns=["truth", "yaw"]), on=["path", "face"], how="outer")
    if merged is not None and len(merged):
        merged = merged.reindex(merged["yaw"].abs().sort_values(ascending=False).index).head(12)
        if source == "test":  # a Test file is one face: its index says nothing
            merged = merged.drop(columns="face")
        probs = {c: st.column_config.NumberColumn(c, format="%.3f") for c in merged.columns if c.startswith("p(mask)")}
        st.dataframe(dashes(merged), hide_index=True,
                     column_config={"yaw": st.column_config.NumberColumn("yaw °", format="%+.0f"), **probs})
        angle_examples(results, names, source, merged, have_data)


def occluders_tab(results: dict[str, dict], have_data: bool) -> None:
    st.subheader("A hand, a phone, a cup or a scarf over mouth and nose")
    names = with_study(results, "occluders")
    if not names:
        return no_results("occluders")
    blk0 = results[names[0]]["summary"]["studies"]["occluders"]
    st.markdown(
        "Unmasked Test faces get an object drawn over mouth and nose (shapes and textures are "
        "generated, placed from the face's landmarks). None of them is a mask, so every "
        "*with mask* call below is an error — except that a scarf pulled over mouth and nose is "
        "accepted as a face covering by many rules."
    )
    subsample_note(results, names)
    st.plotly_chart(charts.occluder_calls(tables(results, names, "occluders_summary")), key="occ_bar")
    calls = pd.DataFrame({
        n: {obj: pct(v["called_with_mask"], 1) for obj, v in results[n]["summary"]["studies"]["occluders"]["objects"].items()}
        for n in names
    })
    calls.insert(0, "faces", [blk0["objects"].get(o, {}).get("n") for o in calls.index])  # n of each share
    st.dataframe(calls.rename(index={k: f"{k} — {v}" for k, v in blk0.get("titles", {}).items()}))
    placed = blk0.get("placed_from_landmarks")
    if placed is not None:
        st.caption(f"Objects placed from BlazeFace landmarks on {pct(placed, 0)} of faces; the rest at the "
                   "typical position of mouth and nose in a face crop.")
    st.markdown("**The face each object fooled most**")
    example_faces(results, "occluders", names, have_data)


def distance_tab(results: dict[str, dict]) -> None:
    st.subheader("Distance: the same faces, smaller")
    names = with_study(results, "distance")
    if not names:
        no_results("distance")
    else:
        st.markdown(
            "A face far from the camera is a small face. Each Test face is shrunk to *w* × *w* pixels "
            "and enlarged back to 224, as the pipeline would see it at a distance."
        )
        subsample_note(results, names)
        dist = tables(results, names, "distance")
        c1, c2 = st.columns(2)
        c1.plotly_chart(charts.distance_accuracy(dist, studies.DISTANCE_WIDTHS), key="dist_acc")
        c2.plotly_chart(charts.distance_p_mask(dist, studies.DISTANCE_WIDTHS), key="dist_p")
    st.markdown("**The shortcut in the data: native image widths**")
    sizes = next(iter(tables(results, list(results), "native_sizes").values()), None)
    if sizes is None:
        no_results("native_size")
    else:
        splits = list(dict.fromkeys(sizes["split"]))
        split = st.radio("Split", splits, horizontal=True, key="sizes_split",
                         index=splits.index("Train") if "Train" in splits else 0)
        st.plotly_chart(charts.native_widths(sizes, split), key="sizes_hist")
        first = next(iter(results.values()))
        med = first["summary"].get("studies", {}).get("native_size", {}).get("median_width", {})
        if med:
            st.caption("Median width — " + "; ".join(
                f"{s}: " + ", ".join(f"{c} {w:.0f} px" for c, w in v.items()) for s, v in med.items())
                + ". Every unmasked face is a small CelebA crop enlarged to 224 px, so softness alone "
                "can separate the classes.")
    accs = tables(results, list(results), "native_accuracy")
    if accs:
        st.plotly_chart(charts.native_accuracy(accs), key="native_acc")
        few_note(pd.concat(accs.values()), "Open grey circles")


def keras_path(name: str, results: dict[str, dict]) -> str | None:
    """The .keras file of a model: models/<name>/model.keras, else the one the analysis ran."""
    p = shipped.recipe_dir(name) / "model.keras"
    if p.is_file():
        return str(p)
    m = results.get(name, {}).get("summary", {}).get("model")
    return str(m) if m and str(m).endswith(".keras") and Path(m).is_file() else None


def gallery_tab(results: dict[str, dict], duplicates: pd.DataFrame | None) -> tuple[pd.DataFrame, str] | None:
    """→ (the faces the gallery lists, their set) for the Grad-CAM tab, or None."""
    st.subheader("Gallery of mistakes")
    with_preds = [r for r in dict.fromkeys([*shipped.RECIPES, *results]) if shipped.prediction_sets(r)]
    if not with_preds:
        st.info("No predictions_*.csv yet in the model folders (`python -m maskdash report` writes them).",
                icon=":material/hourglass_empty:")
        return None
    c1, c2 = st.columns(2)
    model = c1.selectbox("Model", with_preds, key="gal_model")
    have = shipped.prediction_sets(model)
    sets = [s for s in shipped.evaluated_sets(model) if s in have or (s == "dev_scenes_holdout" and "dev_scenes" in have)]
    set_name = c2.selectbox("Set", sets, key="gal_set", format_func=lambda s: shipped.SET_TITLES.get(s, s))
    threshold = float((safe_report(shipped.load_metrics, model) or {}).get("threshold", 0.5))
    preds = safe_report(shipped.load_predictions, model, set_name)
    if preds is None or not len(preds):
        st.info("This set has no predictions.")
        return None
    view = mistakes_gallery(preds, set_name, threshold, "gal", filters=True, duplicates=duplicates,
                            yaw=table(results.get(model, {}), "angles_faces"), faces=8, cam=True,
                            keras_path=keras_path(model, results), hint=False)
    return view, set_name


def gallery_pick(gallery: tuple[pd.DataFrame, str] | None, have_data: bool) -> np.ndarray | None:
    if not have_data:
        data_hint("Gallery faces")
        return None
    if gallery is None or not len(gallery[0]):
        st.info("The gallery (previous tab) has no faces with the current filters.")
        return None
    view, set_name = gallery
    k = st.selectbox("Gallery face", list(range(min(len(view), 200))), key="why_gallery_face",
                     format_func=lambda i: f"{view.iloc[i]['path']} ({view.iloc[i]['truth']} → "
                                           f"{view.iloc[i]['label']}, p {view.iloc[i]['p_mask']:.2f})")
    try:
        return face_of(view.iloc[k], set_name)
    except (ImageError, KeyError, ValueError) as exc:
        st.error(f"Cannot read this face: {exc}")
        return None


def why_tab(results: dict[str, dict], gallery: tuple[pd.DataFrame, str] | None, have_data: bool) -> None:
    st.subheader("Why did it say that? Grad-CAM")
    st.markdown(
        f"{term('Grad-CAM')} weighs MobileNetV2's last 7×7 feature map by how much each channel pushes the "
        "model's call, then paints the result over the face: red is where the evidence for the "
        "call lies. A mask decision that looks at the background, the hair or the image border "
        "rather than mouth and nose is a shortcut."
    )
    cam_models = [n for n in dict.fromkeys([*shipped.RECIPES, *results]) if keras_path(n, results)]
    if not cam_models:
        st.info("Grad-CAM needs a trained Keras model (models/<recipe>/model.keras); none was found.",
                icon=":material/hourglass_empty:")
        return
    model = st.selectbox("Model", cam_models, key="why_model")
    origin = st.radio("Face", ["upload", "gallery"], horizontal=True, key="why_origin",
                      format_func={"upload": "Upload a photo", "gallery": "A face from the gallery"}.get)
    face = gallery_pick(gallery, have_data) if origin == "gallery" else uploaded_face("why_upload")
    if face is not None:
        explain_face(model, keras_path(model, results), face)


# ---------------------------------------------------------------- the page

st.title("Failure analysis")
st.markdown(
    "Users of the original app reported three failures: *turning to the side makes it say "
    "“mask”*, *a hand over the mouth counts as a mask*, and *pulling away from the camera flips "
    "the prediction*. Each is measured here on real faces, for the **seed** recipe (the original's) "
    "and the **robust** one (the shipped model), side by side."
)
RESULTS = {n: load_results(n) for n in result_names()}
for res in RESULTS.values():
    for msg in res["errors"]:
        st.error(msg, icon=":material/error:")
HAVE_DATA = data_available()
if not HAVE_DATA:
    data_hint("Browsing the faces behind these figures, the gallery images and Grad-CAM")
if not RESULTS:
    st.warning(
        f"No failure-analysis results yet in `{settings.display_path(analysis_root())}`. They are written by "
        "`python -m maskdash analyze` (after `train` and `report`; a few minutes per model on a CPU).",
        icon=":material/description:",
    )
else:
    glance(RESULTS)
DUPLICATES = safe_report(shipped.load_duplicates)

tabs = st.tabs(["Angled faces", "Occluding objects", "Real hands", "Below the nose", "Distance", "Lighting",
                "Dim webcam", "Gallery of mistakes", "Why (Grad-CAM)", "Data audit"])
with tabs[0]:
    angles_tab(RESULTS, HAVE_DATA)
with tabs[1]:
    occluders_tab(RESULTS, HAVE_DATA)
with tabs[2]:
    hands_tab(RESULTS, HAVE_DATA)
with tabs[3]:
    below_nose_tab(RESULTS, HAVE_DATA)
with tabs[4]:
    distance_tab(RESULTS)
with tabs[5]:
    lighting_tab(RESULTS, HAVE_DATA)
with tabs[6]:
    dim_webcam_tab(RESULTS, HAVE_DATA)
with tabs[7]:
    GALLERY = gallery_tab(RESULTS, DUPLICATES)
with tabs[8]:
    why_tab(RESULTS, GALLERY, HAVE_DATA)
with tabs[9]:
    audit_tab(DUPLICATES, HAVE_DATA)
