"""Evaluation: confusion matrices, ROC / precision-recall, calibration and a live threshold for
each evaluated set, seed vs robust; recomputed from the committed predictions CSVs."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from maskdash import charts

from maskdash.evaluation import shipped
from maskdash.labels import CLASSES, INCORRECT
from maskdash.imaging import ImageError, crop_face, load_rgb
from views.common import data_available, data_hint, pct, reports_hint, safe_report

st.title("Evaluation")
st.markdown(
    "How well each model separates masked from unmasked faces on the sets it was evaluated on. "
    "The model outputs **p(with_mask)**; a face is called *with_mask* when it reaches the "
    "threshold. Move the threshold and every figure below is recomputed from the per-face "
    "predictions."
)

metrics = {r: safe_report(shipped.load_metrics, r) for r in shipped.RECIPES}
sets: list[str] = []
for recipe in shipped.RECIPES:
    for s in shipped.evaluated_sets(recipe, metrics[recipe]):
        if s not in sets:
            sets.append(s)
sets.sort(key=lambda s: (shipped.SET_ORDER.index(s) if s in shipped.SET_ORDER else 99, s))

if not sets:
    for recipe in shipped.RECIPES:
        reports_hint(recipe, "evaluation report (metrics.json, predictions_*.csv)")
    st.stop()

c1, c2 = st.columns([2, 3])
set_name = c1.selectbox("Evaluated set", sets, format_func=lambda s: shipped.SET_TITLES.get(s, s))
default_t = float((metrics["robust"] or {}).get("threshold", 0.5))
threshold = c2.slider("Threshold: a face is called with_mask when p(with_mask) ≥", 0.01, 0.99, default_t, 0.01)

preds: dict[str, pd.DataFrame] = {}
results: dict[str, dict] = {}
for recipe in shipped.RECIPES:
    df = safe_report(shipped.load_predictions, recipe, set_name)
    if df is not None and len(df):
        preds[recipe] = df
        results[recipe] = shipped.metrics_at(df, threshold)
    else:
        committed = ((metrics[recipe] or {}).get("sets") or {}).get(set_name)
        if committed:
            results[recipe] = committed
            st.caption(f"{recipe}: no predictions_{set_name}.csv — showing the committed figures at "
                       f"threshold {(metrics[recipe] or {}).get('threshold', 0.5)}; the slider cannot recompute them.")
        elif metrics[recipe] is None:
            reports_hint(recipe, "evaluation report")

if not results:
    st.warning(f"No figures for {set_name} yet.")
    st.stop()

st.header(f"Metrics at threshold {threshold:.2f}")
if set_name.startswith("dev_scenes"):
    st.caption("Faces of real photos, cropped from their ground-truth boxes (the detector is not involved). "
               "The robust model learnt from the faces of the *train* fold; the honest figure is the holdout fold.")
table = pd.DataFrame({
    shipped.RECIPE_TITLES.get(r, r): {
        "faces (n)": f"{m['n']:,}",
        "accuracy": pct(m.get("accuracy")),
        "balanced accuracy": pct(m.get("balanced_accuracy")),
        "precision with_mask": pct(m["precision"]["with_mask"]),
        "recall with_mask": pct(m["recall"]["with_mask"]),
        "F1 with_mask": pct(m["f1"]["with_mask"]),
        "precision without_mask": pct(m["precision"]["without_mask"]),
        "recall without_mask": pct(m["recall"]["without_mask"]),
        "F1 without_mask": pct(m["f1"]["without_mask"]),
        "ROC AUC": "–" if m.get("roc_auc") is None else f"{m['roc_auc']:.4f}",
        "calibration error (ECE)": "–" if m.get("ece") is None else f"{m['ece']:.4f}",
    }
    for r, m in results.items()
})
cols = st.columns(len(results) + 1)
for col, (r, m) in zip(cols, results.items()):
    col.metric(f"Accuracy · {r}", pct(m.get("accuracy")))
cols[-1].metric("Original (reported, validation)", pct(shipped.ORIGINAL_ACCURACY))
st.dataframe(table, width="stretch", height=35 * (len(table) + 1) + 3)

for recipe, df in preds.items():
    if "truth" in df and (df["truth"] == INCORRECT).any():
        inc = df[df["truth"] == INCORRECT]
        st.caption(f"{recipe}: {len(inc)} faces wear the mask incorrectly (below the nose); they have no "
                   f"binary truth and are left out above. At this threshold "
                   f"{pct((inc['p_mask'] >= threshold).mean(), 1)} of them are called with_mask.")

st.header("Confusion matrices")
st.caption("Rows: the truth; columns: what the model said. The normalised matrix divides each row by its "
           "total, so its diagonal is each class's recall.")
for r, m in results.items():
    st.markdown(f"**{shipped.RECIPE_TITLES.get(r, r)}**")
    a, b = st.columns(2)
    a.plotly_chart(charts.confusion(m["confusion"], False, f"{r} · counts"), key=f"cm_{r}")
    b.plotly_chart(charts.confusion(m["confusion"], True, f"{r} · normalised"), key=f"cmn_{r}")

if preds:
    st.header("Curves")
    rocs, prs, rels, aucs, roc_marks, pr_marks = {}, {}, {}, {}, {}, {}
    for r, df in preds.items():
        y, p = shipped.binary_frame(df)
        if len(set(y.tolist())) < 2:
            continue
        rocs[r], prs[r], rels[r] = shipped.roc_points(y, p), shipped.pr_points(y, p), shipped.reliability(y, p)
        aucs[r] = results[r].get("roc_auc") or float("nan")
        m = results[r]
        roc_marks[r] = (1 - (m["recall"]["without_mask"] or 0), m["recall"]["with_mask"] or 0)
        pr_marks[r] = (m["recall"]["with_mask"] or 0, m["precision"]["with_mask"] or 0)
    if rocs:
        a, b = st.columns(2)
        a.plotly_chart(charts.roc(rocs, aucs, roc_marks), key="roc")
        b.plotly_chart(charts.precision_recall(prs, pr_marks), key="pr")
        a, b = st.columns(2)
        a.plotly_chart(charts.calibration(rels), key="cal")
        b.plotly_chart(charts.probability_histogram(preds, threshold), key="hist")
        st.caption("Dots mark the current threshold. Calibration: when the model says p = 0.8, about 80 % "
                   "of those faces should be masked; points below the diagonal mean over-confidence in masks.")
    else:
        st.info("This set holds only one class, so ROC and precision-recall curves are undefined.")

probe_docs = {r: (metrics[r] or {}).get("probes") for r in shipped.RECIPES if (metrics[r] or {}).get("probes")}
if probe_docs:
    st.header("Robustness probes (Test set)")
    st.caption("Resolution: every test face shrunk to N pixels wide and enlarged back — a distant face. "
               "Lighting: brightness multiplied by a factor. Bars: share of faces still classified correctly.")
    for r, probes in probe_docs.items():
        a, b = st.columns(2)
        res = probes.get("resolution") or {}
        if res:
            t = pd.DataFrame([{"width (px)": int(k), "with_mask": v.get("with_mask"), "without_mask": v.get("without_mask")}
                              for k, v in res.items()]).sort_values("width (px)")
            a.plotly_chart(charts.probe_bars(t, "width (px)", f"{r} · face width"), key=f"res_{r}")
        light = probes.get("lighting") or {}
        if light:
            t = pd.DataFrame([{"brightness ×": float(k), "accuracy": v.get("accuracy")} for k, v in light.items()])
            b.plotly_chart(charts.probe_bars(t.sort_values("brightness ×"), "brightness ×", f"{r} · lighting"),
                           key=f"light_{r}")

st.header("Mistakes at this threshold")
if not preds:
    st.caption("Needs a predictions CSV.")
else:
    from views.gallery import mistakes_gallery  # the one gallery, shared with Failure analysis

    recipe = st.radio("Model", list(preds), horizontal=True, key="mistakes_recipe")
    mistakes_gallery(preds[recipe], set_name, threshold, "mistakes", faces=12)
