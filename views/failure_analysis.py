"""Failure analysis: the original app's reported failures, measured (angles, objects over the
mouth, distance, light), the gallery of mistakes, Grad-CAM on any face, and the data audit.

The study tables come from `python -m maskdash analyze` (models/analysis/<model>/); the gallery and
Grad-CAM read faces from the data folder when it is present."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from maskdash import charts

from maskdash.analysis import studies

from maskdash.evaluation import shipped
from maskdash.labels import CLASSES, INCORRECT
from maskdash.imaging import ImageError
from views.common import data_available, data_hint, pct, safe_report

CLASS_DASH = {"with_mask": "solid", "without_mask": "dot", "all": "solid"}

st.title("Failure analysis")
st.markdown(
    "Users of the original app reported three failures: *turning to the side makes it say "
    "“mask”*, *a hand over the mouth counts as a mask*, and *pulling away from the camera flips "
    "the prediction*. Each is measured here on real faces, for the **seed** recipe (the original's) "
    "and the **robust** one (the shipped model), side by side."
)

ROOT = studies.analysis_root()
NAMES = studies.result_names(ROOT)
RESULTS = {n: studies.load_results(n, ROOT) for n in NAMES}
for res in RESULTS.values():
    for msg in res["errors"]:
        st.error(msg, icon=":material/error:")
HAVE_DATA = data_available()

if not HAVE_DATA:
    data_hint("Browsing the faces behind these figures, the gallery images and Grad-CAM")
if not NAMES:
    st.warning(
        f"No failure-analysis results yet in `{ROOT}`. They are written by "
        "`python -m maskdash analyze` (after `train` and `report`; a few minutes per model on a CPU).",
        icon=":material/description:",
    )


def color(name: str) -> str:
    return charts.run_color(name, NAMES.index(name) if name in NAMES else 0)


def layout(fig: go.Figure, title: str, x: str, y: str, height: int = 360, pct_y: bool = True) -> go.Figure:
    fig.update_layout(title=title, xaxis_title=x, yaxis_title=y, height=height,
                      margin=dict(l=50, r=20, t=55, b=40), legend=dict(orientation="h", y=-0.25))
    if pct_y:  # start at 0 unless every value is high: then zoom in so small drops stay visible
        ys = [v for tr in fig.data for v in (tr.y if tr.y is not None else []) if v is not None and v == v]
        low = 0.0 if not ys or min(ys) < 0.6 or any(isinstance(tr, go.Bar) for tr in fig.data) else 0.5
        fig.update_yaxes(tickformat=".0%", range=[low, 1.02])
    return fig


def with_table(name: str, key: str) -> pd.DataFrame | None:
    df = RESULTS.get(name, {}).get(key)
    return df if isinstance(df, pd.DataFrame) and len(df) else None


def study_names(study: str) -> list[str]:
    return [n for n in NAMES if study in RESULTS[n].get("summary", {}).get("studies", {})]


def no_results(study: str) -> None:
    st.info(f"No {studies.STUDY_TITLES[study].lower()} results yet: run `python -m maskdash analyze`.",
            icon=":material/hourglass_empty:")


def subsample_note(names: list[str]) -> None:
    for n in names:
        s = RESULTS[n]["summary"]
        note = (s.get("subsample") or {}).get("note")
        if note:
            st.caption(f"**{n}** — {note} Generated {s.get('generated', '?')}, model `{s.get('model', '?')}`.")
            return


def example_images(study: str, names: list[str]) -> None:
    """The small thumbnails each run saved (committed with the results)."""
    for n in names:
        ex = with_table(n, "examples")
        if ex is None:
            continue
        ex = ex[ex["study"] == study]
        paths, captions = [], []
        for _, r in ex.iterrows():
            f = RESULTS[n]["folder"] / str(r["file"])
            if f.is_file():
                paths.append(str(f))
                captions.append(f"{r['detail']} · {r['truth']} · p(mask) {float(r['p_mask']):.2f}")
        if paths:
            st.markdown(f"**{n}**")
            st.image(paths, caption=captions, width=120)


if NAMES:
    glance = pd.DataFrame({n: studies.headlines(RESULTS[n]["summary"]) for n in NAMES})
    glance = glance.dropna(how="all")
    if len(glance):
        st.subheader("At a glance")
        st.dataframe(glance.map(lambda v: pct(v, 1)), height=35 * (len(glance) + 1) + 3)
        st.caption("Shares of faces, from the studies below (subsampled; see each tab for n).")

tabs = st.tabs(["Angled faces", "Occluding objects", "Distance", "Lighting", "Gallery of mistakes",
                "Why (Grad-CAM)", "Data audit"])

# ---------------------------------------------------------------- angled faces
with tabs[0]:
    st.subheader("Does turning the head read as a mask?")
    names = study_names("angles")
    if not names:
        no_results("angles")
    else:
        st.caption(RESULTS[names[0]]["summary"]["studies"]["angles"].get("method", studies.YAW_METHOD))
        subsample_note(names)
        source = st.radio("Faces", ["test", "dev_scenes"], horizontal=True, key="angles_source",
                          format_func={"test": "Face Mask 12K Test crops",
                                       "dev_scenes": "Dev scenes (real photos, holdout fold)"}.get)
        bins_fig = go.Figure()
        p_fig = go.Figure()
        for n in names:
            bins = with_table(n, "angles_bins")
            if bins is None:
                continue
            b = bins[bins["source"] == source]
            if not len(b):
                continue
            allb = b[b["truth"] == "all"]
            bins_fig.add_trace(go.Bar(x=allb["yaw_bin"], y=allb["accuracy"], name=n, marker_color=color(n),
                                      customdata=allb["n"], hovertemplate="%{x}: %{y:.1%} (n=%{customdata})"))
            for cls in CLASSES:
                c = b[b["truth"] == cls]
                p_fig.add_trace(go.Scatter(x=c["yaw_bin"], y=c["mean_p_mask"], mode="lines+markers",
                                           name=f"{n} · truth {cls}", customdata=c["n"],
                                           line=dict(color=color(n), dash=CLASS_DASH[cls]),
                                           hovertemplate="%{x}: %{y:.2f} (n=%{customdata})"))
        if bins_fig.data:
            c1, c2 = st.columns(2)
            c1.plotly_chart(layout(bins_fig.update_layout(barmode="group"), "Accuracy by |yaw|", "|yaw|", "accuracy"),
                            key="angles_acc")
            c2.plotly_chart(layout(p_fig, "Mean p(with_mask) by |yaw|", "|yaw|", "mean p(with_mask)"),
                            key="angles_p")
        else:
            st.info("No faces from this source in the results (the dev scenes may have been missing).")
        rows = []
        for n in names:
            blk = RESULTS[n]["summary"]["studies"]["angles"]["sources"].get(source)
            if blk:
                rows.append({"model": n, "faces": blk["faces"], "landmarks found": pct(blk["detected"], 0),
                             **{f"median |yaw| ({t})": "–" if v is None else f"{v:.0f}°"
                                for t, v in blk["median_abs_yaw_by_truth"].items()}})
        if rows:
            st.dataframe(pd.DataFrame(rows), hide_index=True)
        st.markdown("**The most turned faces and what each model said**")
        merged = None
        for n in names:
            f = with_table(n, "angles_faces")
            if f is None:
                continue
            f = f[(f["source"] == source) & f["detected"].astype(bool)][["path", "face", "truth", "yaw", "p_mask"]]
            f = f.rename(columns={"p_mask": f"p(mask) {n}"})
            merged = f if merged is None else merged.merge(f.drop(columns=["truth", "yaw"]), on=["path", "face"], how="outer")
        if merged is not None and len(merged):
            merged = merged.reindex(merged["yaw"].abs().sort_values(ascending=False).index).head(12)
            st.dataframe(merged, hide_index=True, column_config={"yaw": st.column_config.NumberColumn("yaw °", format="%+.0f")})
        example_images("angles", names)
        st.caption("Dots: eyes (cyan), nose (red), mouth (orange), ears (green) as BlazeFace placed them.")

# ---------------------------------------------------------------- occluders
with tabs[1]:
    st.subheader("A hand, a phone, a cup or a scarf over mouth and nose")
    names = study_names("occluders")
    if not names:
        no_results("occluders")
    else:
        blk0 = RESULTS[names[0]]["summary"]["studies"]["occluders"]
        st.markdown(
            "Unmasked Test faces get an object drawn over mouth and nose (shapes and textures are "
            "generated, placed from the face's landmarks). None of them is a mask, so every "
            "*with mask* call below is an error — except that a scarf pulled over mouth and nose is "
            "accepted as a face covering by many rules."
        )
        subsample_note(names)
        fig = go.Figure()
        for n in names:
            t = with_table(n, "occluders_summary")
            if t is not None:
                fig.add_trace(go.Bar(x=t["object"], y=t["called_with_mask"], name=n, marker_color=color(n),
                                     customdata=np.stack([t["n"], t["mean_p_mask"]], axis=1),
                                     hovertemplate="%{x}: %{y:.1%} called with_mask<br>n=%{customdata[0]}, "
                                                   "mean p=%{customdata[1]:.2f}"))
        st.plotly_chart(layout(fig.update_layout(barmode="group"), "Share called “with mask” (truth: no mask)",
                               "object over mouth and nose ('none' = the same faces untouched)", "called with_mask"),
                        key="occ_bar")
        table = pd.DataFrame({
            n: {obj: pct(v["called_with_mask"], 1) for obj, v in RESULTS[n]["summary"]["studies"]["occluders"]["objects"].items()}
            for n in names
        })
        st.dataframe(table.rename(index={k: f"{k} — {v}" for k, v in blk0.get("titles", {}).items()}))
        placed = blk0.get("placed_from_landmarks")
        if placed is not None:
            st.caption(f"Objects placed from BlazeFace landmarks on {pct(placed, 0)} of faces; the rest at the "
                       "typical position of mouth and nose in a face crop.")
        st.markdown("**The face each object fooled most**")
        example_images("occluders", names)

# ---------------------------------------------------------------- distance
with tabs[2]:
    st.subheader("Distance: the same faces, smaller")
    names = study_names("distance")
    if not names:
        no_results("distance")
    else:
        st.markdown(
            "A face far from the camera is a small face. Each Test face is shrunk to *w* × *w* pixels "
            "and enlarged back to 224, as the pipeline would see it at a distance."
        )
        subsample_note(names)
        acc, pm = go.Figure(), go.Figure()
        for n in names:
            t = with_table(n, "distance")
            if t is None:
                continue
            a = t[t["truth"] == "all"]
            acc.add_trace(go.Scatter(x=a["width"], y=a["accuracy"], mode="lines+markers", name=n,
                                     line=dict(color=color(n))))
            for cls in CLASSES:
                c = t[t["truth"] == cls]
                pm.add_trace(go.Scatter(x=c["width"], y=c["mean_p_mask"], mode="lines+markers",
                                        name=f"{n} · truth {cls}", line=dict(color=color(n), dash=CLASS_DASH[cls])))
        c1, c2 = st.columns(2)
        ticks = dict(type="log", tickvals=list(studies.DISTANCE_WIDTHS), ticktext=[str(w) for w in studies.DISTANCE_WIDTHS])
        c1.plotly_chart(layout(acc, "Accuracy by face width", "face width (px, log scale)", "accuracy")
                        .update_xaxes(**ticks), key="dist_acc")
        c2.plotly_chart(layout(pm, "Mean p(with_mask) by face width", "face width (px, log scale)", "mean p(with_mask)")
                        .update_xaxes(**ticks), key="dist_p")
    st.markdown("**The shortcut in the data: native image widths**")
    sizes = None
    for n in NAMES:
        sizes = with_table(n, "native_sizes")
        if sizes is not None:
            break
    if sizes is None:
        no_results("native_size")
    else:
        splits = list(dict.fromkeys(sizes["split"]))
        split = st.radio("Split", splits, horizontal=True, key="sizes_split",
                         index=splits.index("Train") if "Train" in splits else 0)
        fig = go.Figure()
        for cls, col in zip(CLASSES, ("#2ecc71", "#e74c3c")):
            d = sizes[(sizes["split"] == split) & (sizes["truth"] == cls)]
            fig.add_trace(go.Bar(x=d["size_bin"], y=d["count"], name=cls, marker_color=col))
        st.plotly_chart(layout(fig.update_layout(barmode="group"), f"Native width of the {split} images",
                               "width (px)", "images", pct_y=False), key="sizes_hist")
        med = RESULTS[NAMES[0]]["summary"].get("studies", {}).get("native_size", {}).get("median_width", {})
        if med:
            st.caption("Median width — " + "; ".join(
                f"{s}: " + ", ".join(f"{c} {w:.0f} px" for c, w in v.items()) for s, v in med.items())
                + ". Every unmasked face is a small CelebA crop enlarged to 224 px, so softness alone "
                "can separate the classes.")
    accs = {n: with_table(n, "native_accuracy") for n in NAMES}
    accs = {n: t for n, t in accs.items() if t is not None}
    if accs:
        fig = go.Figure()
        for n, t in accs.items():
            for cls in CLASSES:
                c = t[t["truth"] == cls]
                fig.add_trace(go.Scatter(x=c["size_bin"], y=c["accuracy"], mode="lines+markers",
                                         name=f"{n} · truth {cls}", customdata=c["n"],
                                         hovertemplate="%{x}: %{y:.1%} (n=%{customdata})",
                                         line=dict(color=color(n), dash=CLASS_DASH[cls])))
        st.plotly_chart(layout(fig, "Full Test split: accuracy by the file's native width", "native width (px)",
                               "accuracy"), key="native_acc")

# ---------------------------------------------------------------- lighting
with tabs[3]:
    st.subheader("Lighting: darker, brighter, flatter, harsher")
    names = study_names("lighting")
    if not names:
        no_results("lighting")
    else:
        subsample_note(names)
        st.caption(RESULTS[names[0]]["summary"]["studies"]["lighting"].get("note", ""))
        cols = st.columns(2)
        for col, kind in zip(cols, ("brightness", "contrast")):
            fig = go.Figure()
            for n in names:
                t = with_table(n, "lighting")
                if t is None:
                    continue
                for cls in ("all", *CLASSES):
                    c = t[(t["kind"] == kind) & (t["truth"] == cls)]
                    fig.add_trace(go.Scatter(
                        x=c["factor"], y=c["accuracy"], mode="lines+markers", name=f"{n} · {cls}",
                        line=dict(color=color(n), dash={"all": "solid", "with_mask": "dash", "without_mask": "dot"}[cls],
                                  width=3 if cls == "all" else 1.5)))
            col.plotly_chart(layout(fig, f"Accuracy by {kind} factor", f"{kind} × factor", "accuracy", height=440)
                             .update_xaxes(tickvals=list(studies.BRIGHTNESS if kind == "brightness" else studies.CONTRAST)),
                             key=f"light_{kind}")

# ---------------------------------------------------------------- gallery of mistakes


@st.cache_resource(show_spinner="Loading the Keras model for Grad-CAM…")
def keras_model(path: str):
    from maskdash.model.network import load_model

    return load_model(path)


def keras_path(name: str) -> str | None:
    """The .keras file of a model: models/<name>/model.keras, else the one the analysis ran."""
    p = shipped.recipe_dir(name) / "model.keras"
    if p.is_file():
        return str(p)
    s = RESULTS.get(name, {}).get("summary", {})
    m = s.get("model")
    if m and str(m).endswith(".keras"):
        from pathlib import Path

        if Path(m).is_file():
            return str(m)
    return None


@st.cache_data(show_spinner=False, max_entries=256)
def cached_face(row_json: str, set_name: str) -> np.ndarray:
    return studies.gallery_face(json.loads(row_json), set_name)


@st.cache_data(show_spinner=False, max_entries=256)
def cached_cam(model_path: str, face: np.ndarray, class_index: int | None) -> tuple[np.ndarray, np.ndarray]:
    """(overlay, probabilities)."""
    from maskdash.model.explain import explain, overlay

    cam = explain(keras_model(model_path), face, class_index)
    return overlay(face, cam.heat), cam.probs


def load_audit_duplicates() -> pd.DataFrame | None:
    path = shipped.reports_root() / "audit" / "duplicates.csv"
    if not path.is_file():
        return None
    try:
        return pd.read_csv(path)
    except (OSError, ValueError) as exc:
        st.error(f"duplicates.csv is unreadable ({exc})")
        return None


GALLERY_CHOICE: dict = {}
with tabs[4]:
    st.subheader("Gallery of mistakes")
    with_preds = [r for r in [*shipped.RECIPES, *[n for n in NAMES if n not in shipped.RECIPES]]
                  if shipped.prediction_sets(r)]
    if not with_preds:
        st.info("No predictions_*.csv yet in the model folders (`python -m maskdash report` writes them).",
                icon=":material/hourglass_empty:")
    else:
        c1, c2, c3 = st.columns(3)
        model = c1.selectbox("Model", with_preds, key="gal_model")
        sets = shipped.evaluated_sets(model)
        sets = [s for s in sets if s in shipped.prediction_sets(model) or
                (s == "dev_scenes_holdout" and "dev_scenes" in shipped.prediction_sets(model))]
        set_name = c2.selectbox("Set", sets, key="gal_set", format_func=lambda s: shipped.SET_TITLES.get(s, s))
        metrics = safe_report(shipped.load_metrics, model) or {}
        threshold = float(metrics.get("threshold", 0.5))
        preds = safe_report(shipped.load_predictions, model, set_name)
        yaw = with_table(model, "angles_faces")
        truths = ["any"] + [t for t in (*CLASSES, INCORRECT) if preds is not None and (preds["truth"] == t).any()]
        truth = c3.selectbox("True class", truths, key="gal_truth")
        c4, c5, c6 = st.columns(3)
        min_conf = c4.slider("Model's confidence in its call at least", 0.5, 1.0, 0.5, 0.01, key="gal_conf")
        tags = c5.multiselect("Tags (all must apply)", list(studies.TAGS), key="gal_tags",
                              format_func=lambda t: t)
        show_correct = c6.toggle("Include correct calls", key="gal_correct",
                                 help="Browse every face of the set, not only the mistakes.")
        if preds is None or not len(preds):
            st.info("This set has no predictions.")
        else:
            table = studies.mistakes(preds, set_name, threshold, load_audit_duplicates(), yaw, include_correct=show_correct)
            n_wrong = int((table["error"] != "correct").sum()) if len(table) else 0
            view = table
            if truth != "any":
                view = view[view["truth"] == truth]
            view = view[view["confidence"] >= min_conf]
            for t in tags:
                view = view[view["tags"].str.contains(t, regex=False)]
            st.markdown(f"**{n_wrong} mistakes** among {len(preds):,} faces at threshold {threshold:.2f}; "
                        f"**{len(view)}** match the filters.")
            st.caption(" · ".join(f"`{k}`: {v}" for k, v in studies.TAGS.items()))
            cols = [c for c in ("path", "face", "truth", "label", "p_mask", "confidence", "error", "tags", "width", "height")
                    if c in view.columns]
            st.dataframe(view[cols], hide_index=True, key="gal_table")
            GALLERY_CHOICE.update(model=model, set_name=set_name, view=view)
            if not HAVE_DATA:
                st.caption("The faces themselves appear here when the data folder is present (see above).")
            elif len(view):
                n_show = st.slider("Faces to show", 1, min(24, len(view)), min(8, len(view)), key="gal_n")
                cam_on = st.toggle("Grad-CAM overlays (where the model looked for its call)", key="gal_cam")
                mpath = keras_path(model) if cam_on else None
                if cam_on and mpath is None:
                    st.warning(f"Grad-CAM needs the Keras model of {model} (model.keras), which is missing.")
                images, captions = [], []
                for _, r in view.head(n_show).iterrows():
                    try:
                        face = cached_face(json.dumps({k: (v.item() if hasattr(v, "item") else v)
                                                      for k, v in r.items()}), set_name)
                    except (ImageError, KeyError, ValueError) as exc:
                        st.caption(f"{r['path']}: {exc}")
                        continue
                    cap = f"{r['truth']} → {r['label']} · p(mask) {r['p_mask']:.2f}"
                    if mpath:
                        face, _ = cached_cam(mpath, face, None)
                        cap += " · Grad-CAM"
                    images.append(face)
                    captions.append(cap)
                if images:
                    st.image(images, caption=captions, width=150)

# ---------------------------------------------------------------- why (Grad-CAM)
with tabs[5]:
    st.subheader("Why did it say that? Grad-CAM")
    st.markdown(
        "Grad-CAM weighs MobileNetV2's last 7×7 feature map by how much each channel pushes the "
        "model's call, then paints the result over the face: red is where the evidence for the "
        "call lies. A mask decision that looks at the background, the hair or the image border "
        "rather than mouth and nose is a shortcut."
    )
    cam_models = [n for n in dict.fromkeys([*shipped.RECIPES, *NAMES]) if keras_path(n)]
    if not cam_models:
        st.info("Grad-CAM needs a trained Keras model (models/<recipe>/model.keras); none was found.",
                icon=":material/hourglass_empty:")
    else:
        model = st.selectbox("Model", cam_models, key="why_model")
        mpath = keras_path(model)
        origin = st.radio("Face", ["upload", "gallery"], horizontal=True, key="why_origin",
                          format_func={"upload": "Upload a photo", "gallery": "A face from the gallery"}.get)
        face = None
        if origin == "gallery":
            view = GALLERY_CHOICE.get("view")
            if not HAVE_DATA:
                data_hint("Gallery faces")
            elif view is None or not len(view):
                st.info("The gallery (previous tab) has no faces with the current filters.")
            else:
                options = list(range(min(len(view), 200)))
                k = st.selectbox("Gallery face", options, key="why_gallery_face",
                                 format_func=lambda i: f"{view.iloc[i]['path']} ({view.iloc[i]['truth']} → "
                                                       f"{view.iloc[i]['label']}, p {view.iloc[i]['p_mask']:.2f})")
                r = view.iloc[k]
                try:
                    face = cached_face(json.dumps({c: (v.item() if hasattr(v, "item") else v) for c, v in r.items()}),
                                       GALLERY_CHOICE["set_name"])
                except (ImageError, KeyError, ValueError) as exc:
                    st.error(f"Cannot read this face: {exc}")
        else:
            up = st.file_uploader("A photo with one or more faces", type=["jpg", "jpeg", "png", "webp", "bmp"],
                                  key="why_upload")
            if up is not None:
                from maskdash.imaging import crop_face, load_rgb

                try:
                    rgb = load_rgb(up.getvalue())
                except ImageError as exc:
                    rgb = None
                    st.error(f"{up.name}: {exc}")
                if rgb is not None:
                    from maskdash.inference.detection import default_photo_detector
                    from maskdash.inference.draw import annotate
                    from maskdash.inference.results import Face
                    from maskdash.labels import CROP_MARGIN
                    from views.common import get_detector

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
                        face = load_rgb(up.getvalue())
                    else:
                        marks = [Face(d.box, d.det_score, label=f"face {i + 1}") for i, d in enumerate(found)]
                        st.image(annotate(rgb, marks, show_prob=False), caption=f"{len(found)} face(s) found",
                                 width=480)
                        k = st.selectbox("Face", list(range(len(found))), key="why_face",
                                         format_func=lambda i: f"face {i + 1} (detector score {found[i].score:.2f})")
                        face = crop_face(rgb, found[k].box, CROP_MARGIN)
        if face is not None:
            with st.spinner("Computing Grad-CAM…"):
                over, probs = cached_cam(mpath, np.ascontiguousarray(face), None)
                over_mask, _ = cached_cam(mpath, np.ascontiguousarray(face), 0)
            from maskdash.imaging import to_input

            call = CLASSES[int(np.argmax(probs))]
            st.markdown(f"**{model}** says **{call}** — p(with_mask) = {float(probs[0]):.3f}")
            st.image([to_input(face), over, over_mask],
                     caption=["the face as the classifier sees it (224 px)", f"Grad-CAM for its call ({call})",
                              "Grad-CAM for with_mask"], width=224)

# ---------------------------------------------------------------- data audit
with tabs[6]:
    st.subheader("Duplicates and leakage in Face Mask 12K")
    audit_dir = shipped.reports_root() / "audit"
    audit_json = audit_dir / "audit.json"
    audit = None
    if audit_json.is_file():
        try:
            audit = json.loads(audit_json.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            st.error(f"audit.json is unreadable ({exc})")
    dups = load_audit_duplicates()
    if audit is None and dups is None:
        st.info(f"No data audit yet in `{audit_dir}`: `python -m maskdash audit` writes audit.json and "
                "duplicates.csv.", icon=":material/hourglass_empty:")
    if audit is not None:
        s = audit.get("summary", {})
        c = st.columns(5)
        c[0].metric("files", f"{s.get('files', 0):,}")
        for col, kind in zip(c[1:3], ("exact", "near")):
            k = s.get(kind, {})
            col.metric(f"{kind} duplicate groups", f"{k.get('groups', 0):,}",
                       help=f"{k.get('files', 0):,} files; {k.get('cross_split_groups', 0)} groups span two splits")
        cross = sum(s.get(k, {}).get("cross_split_groups", 0) for k in ("exact", "near"))
        c[3].metric("groups across splits", f"{cross:,}")
        c[4].metric("Test files without a copy elsewhere", f"{s.get('test_dedup_files', 0):,} of {s.get('test_files', 0):,}")
        pairs = []
        for kind in ("exact", "near"):
            for pair, v in (s.get(kind, {}).get("split_pairs") or {}).items():
                pairs.append({"kind": kind, "splits": pair, "groups": v.get("groups"),
                              **{f"files in {k}": n for k, n in (v.get("files") or {}).items()}})
        if pairs:
            st.dataframe(pd.DataFrame(pairs), hide_index=True)
        st.caption(f"Near duplicates: perceptual hashes within {audit.get('near_threshold', '?')} bits.")
    if dups is not None and len(dups):
        kinds = st.multiselect("Kind", sorted(dups["kind"].astype(str).unique()), key="audit_kinds")
        cross_only = st.toggle("Only groups that span two splits (leakage)", value=True, key="audit_cross")
        d = dups if not kinds else dups[dups["kind"].isin(kinds)]
        if cross_only:
            d = d[d.groupby("group")["split"].transform("nunique") > 1]
        st.dataframe(d, hide_index=True)
        if HAVE_DATA and len(d):
            from maskdash import settings
            from maskdash.imaging import load_rgb, to_input

            groups = list(dict.fromkeys(d["group"]))[:3]
            st.markdown("**A few groups, side by side**")
            for g in groups:
                members = d[d["group"] == g].head(4)
                imgs, caps = [], []
                for _, r in members.iterrows():
                    try:
                        imgs.append(to_input(load_rgb(settings.facemask12k_dir() / str(r["path"])), 112))
                        caps.append(f"{r['split']} · {r['label']}")
                    except ImageError as exc:
                        st.caption(f"{r['path']}: {exc}")
                if imgs:
                    st.image(imgs, caption=caps, width=112)
