"""The Lighting tab of the failure-analysis page: the synthetic sweep on Test crops, the same
face at each of its levels, and real dev-scene faces in poor light beside it. A helper module,
not a page; the figures come from maskdash.charts, the measurements from maskdash.analysis.lighting."""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from maskdash import charts, settings
from maskdash.analysis import lighting as light
from maskdash.analysis import studies
from maskdash.analysis.sources import DEV_MIN_HEIGHT
from maskdash.analysis.results import table
from maskdash.evaluation import shipped
from maskdash.imaging import ImageError
from maskdash.labels import CLASSES, WITH_MASK, WITHOUT_MASK
from views.common import pct, safe_report
from views.failure_common import few_note, no_results, subsample_note, tables

HOLDOUT = "dev_scenes_holdout"  # the faces no recipe trained on


@st.cache_data(show_spinner=False, max_entries=4)
def sample_face(label: str, data_dir: str) -> tuple[str, np.ndarray]:
    """(its path, the 224 input) of the first Test face of a class: a fixed face to show the
    lighting levels on (`data_dir` is part of the cache key)."""
    from maskdash.data.datasets import list_split
    from maskdash.imaging import load_rgb, to_input

    fm = settings.facemask12k_dir()
    split = "Test" if (fm / "Test").is_dir() else "test"
    first = next(s for s in list_split(fm, split) if CLASSES[s.label] == label)
    return first.path.relative_to(fm).as_posix(), to_input(load_rgb(first.path))


@st.cache_data(show_spinner="Measuring how bright each dev-scene face is…", max_entries=8)
def measured_faces(model: str, data_dir: str, stamp: float) -> pd.DataFrame | None:
    """The model's holdout dev-scene predictions with each face's luma (`stamp`, the predictions
    file's mtime, and `data_dir` are cache keys)."""
    preds = shipped.load_predictions(model, HOLDOUT)
    if preds is None or not len(preds) or not {"x1", "y1", "x2", "y2"} <= set(preds.columns):
        return None
    return light.measure_faces(preds, lambda p: shipped.image_path(p, HOLDOUT))


def level_examples() -> None:
    """One Test face at every level of the two sweeps, made with the study's own operations."""
    label = st.radio("Face shown at each level", [WITH_MASK, WITHOUT_MASK], horizontal=True, key="light_face")
    try:
        path, face = sample_face(label, str(settings.data_dir()))
    except (ImageError, StopIteration, OSError) as exc:
        st.caption(f"No Test face to show the levels on ({exc}).")
        return
    for kind, factors in (("brightness", studies.BRIGHTNESS), ("contrast", studies.CONTRAST)):
        st.markdown(f"**{kind.capitalize()}**")
        st.image(light.level_images(face, kind, factors), caption=[f"×{f:g}" for f in factors], width=96)
    st.caption(f"`{path}` (a Test face) at each level of the sweeps above: this is what the model was shown.")


def sweep(results: dict[str, dict], names: list[str], have_data: bool) -> None:
    subsample_note(results, names)
    st.caption(results[names[0]]["summary"]["studies"]["lighting"].get("note", ""))
    found = tables(results, names, "lighting")
    for col, kind, factors in zip(st.columns(2), ("brightness", "contrast"), (studies.BRIGHTNESS, studies.CONTRAST)):
        col.plotly_chart(charts.lighting_accuracy(found, kind, factors), key=f"light_{kind}")
    if have_data:
        level_examples()


def real_faces(have_data: bool) -> None:
    st.markdown("**Real faces in poor light: the dev scenes**")
    st.markdown(
        "The sweep darkens studio-lit crops. Street photos are dim or backlit in their own way, so "
        "here each real holdout dev-scene face is measured: the mean luma (brightness, 0 black … 255 "
        "white) of its box, against what each model called it."
    )
    if not have_data:  # the page says how to get the data, once, at the top
        st.caption("Measuring the real dev-scene faces needs their photos: they appear here when the data folder "
                   "is present (see above).")
        return
    found: dict[str, pd.DataFrame] = {}
    for model in shipped.RECIPES:
        path = shipped.recipe_dir(model) / "predictions_dev_scenes.csv"
        if path.is_file():
            m = measured_faces(model, str(settings.data_dir()), path.stat().st_mtime)
            if m is not None and len(m):
                found[model] = m
    if not found:
        st.info("No dev-scene predictions with face boxes (predictions_dev_scenes.csv) to measure.")
        return
    thr = {m: float((safe_report(shipped.load_metrics, m) or {}).get("threshold", 0.5)) for m in found}
    rows = []
    for m, d in found.items():
        both = pd.concat([light.dark_vs_rest(d, thr[m]), light.backlit_vs_rest(d, thr[m])], ignore_index=True)
        for r in both.to_dict("records"):
            rows.append({"model": m, "faces": r["faces"], "n": r["n"], "accuracy": pct(r["accuracy"], 1),
                         "called with mask": pct(r["called_with_mask"], 0),
                         "face luma": f"{r['luma_from']:.0f}–{r['luma_to']:.0f}",
                         "median height": f"{r['median_height']:.0f} px"})
    said = []
    for m, d in found.items():
        t = light.dark_vs_rest(d, thr[m])
        if len(t) == 2:
            said.append(f"**{m}** is right on {pct(t.loc[0, 'accuracy'], 1)} of the darkest tenth of these real "
                        f"faces against {pct(t.loc[1, 'accuracy'], 1)} of the rest (n = {t.loc[0, 'n']} and "
                        f"{t.loc[1, 'n']}).")
    st.markdown(" ".join(said))
    st.dataframe(pd.DataFrame(rows), hide_index=True)
    st.caption(f"Holdout-fold faces whose truth is with or without mask. The darkest {light.DARK_SHARE:.0%} by "
               f"face luma against the rest, and backlit faces (the face box darker than "
               f"{light.BACKLIT_RATIO:.0%} of its whole photo's mean luma) against the rest. The median height "
               "tells whether a group is also smaller (farther away), which would muddle the comparison.")
    by_luma = {m: light.accuracy_by_luma(d, thr[m]) for m, d in found.items()}
    st.plotly_chart(charts.luma_accuracy(by_luma), key="light_luma")
    few_note(pd.concat(by_luma.values()))
    first = next(iter(found))
    dark_faces(found, light.darkest(found[first], min_height=DEV_MIN_HEIGHT),
               f"The darkest real faces at least {DEV_MIN_HEIGHT} px tall, and what each model said")
    missed = set().union(*(light.wrong(d, thr[m]) for m, d in found.items()))
    dark_faces(found, light.darkest(found[first], min_height=DEV_MIN_HEIGHT, among=missed),
               f"The darkest faces at least {DEV_MIN_HEIGHT} px tall that a model got wrong")


def dark_faces(found: dict[str, pd.DataFrame], dark: pd.DataFrame, title: str) -> None:
    """A row of dev-scene faces with their luma, truth and every model's p(with_mask)."""
    from views.gallery import face_of

    images, caps = [], []
    for _, r in dark.iterrows():
        try:
            images.append(face_of(r, HOLDOUT))
        except (ImageError, KeyError, ValueError) as exc:
            st.caption(f"{r['path']}: {exc}")
            continue
        said = {m: d.set_index(["path", "face"]).loc[(r["path"], r["face"]), "p_mask"] for m, d in found.items()}
        caps.append(f"luma {r['face_luma']:.0f} · {r['truth']} · "
                    + ", ".join(f"{m} p {float(p):.2f}" for m, p in said.items()))
    if images:
        st.markdown(f"**{title}** (p = p(with_mask))")
        st.image(images, caption=caps, width=150)


def lighting_tab(results: dict[str, dict], have_data: bool) -> None:
    st.subheader("Lighting: darker, brighter, flatter, harsher")
    names = [n for n, r in results.items() if "lighting" in r.get("summary", {}).get("studies", {})
             and table(r, "lighting") is not None]
    if not names:
        no_results("lighting")
    else:
        sweep(results, names, have_data)
    real_faces(have_data)
