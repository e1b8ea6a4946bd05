"""Evaluation: confusion matrices, ROC / precision-recall, calibration and a live threshold for
each evaluated set, seed vs robust; recomputed from the committed predictions CSVs.

Every figure is computed in the same run from the two widgets' current values (set and
threshold); nothing is carried between reruns except the widgets' own state."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from maskdash import charts

from maskdash.evaluation import shipped
from maskdash.labels import INCORRECT, WITH_MASK, WITHOUT_MASK
from views.glossary import term
from views.common import pct, reports_hint, safe_report

# The set that tells the story: real street photos the shipped model never learnt from.
DEFAULT_SET = "dev_scenes_holdout"


def render_intro() -> None:
    st.title("Evaluation")
    st.markdown(
        "How well each model separates masked from unmasked faces on the sets it was evaluated on. "
        "The model outputs **p(with_mask)**; a face is called *with_mask* when it reaches the "
        f"{term('Threshold', 'threshold')}. Move the threshold and every figure below is recomputed from the "
        f"per-face predictions: {term('Balanced accuracy', 'balanced accuracy')}, "
        f"{term('Precision / recall', 'precision and recall')}, {term('Confusion matrix', 'confusion matrices')}, "
        f"{term('ROC / AUC', 'ROC curves and AUC')} and {term('Calibration / ECE', 'calibration')}."
    )


def evaluated_sets(metrics: dict[str, dict | None]) -> list[str]:
    sets: list[str] = []
    for recipe in shipped.RECIPES:
        for s in shipped.evaluated_sets(recipe, metrics[recipe]):
            if s not in sets:
                sets.append(s)
    return sorted(sets, key=lambda s: (shipped.SET_ORDER.index(s) if s in shipped.SET_ORDER else 99, s))


def pick_set_and_threshold(sets: list[str], metrics: dict[str, dict | None]) -> tuple[str, float]:
    """The two widgets; their values drive everything below."""
    c1, c2 = st.columns([2, 3])
    set_name = c1.selectbox("Evaluated set", sets, index=sets.index(DEFAULT_SET) if DEFAULT_SET in sets else 0,
                            format_func=lambda s: shipped.SET_TITLES.get(s, s), key="eval_set")
    default_t = float((metrics["robust"] or {}).get("threshold", 0.5))
    threshold = c2.slider("Threshold: a face is called with_mask when p(with_mask) ≥", 0.01, 0.99, default_t, 0.01,
                          key="eval_threshold")
    return set_name, float(threshold)


def compute_results(set_name: str, threshold: float,
                    metrics: dict[str, dict | None]) -> tuple[dict[str, pd.DataFrame], dict[str, dict]]:
    """(predictions, metrics at `threshold`) per recipe for `set_name`; a recipe without a
    predictions CSV falls back on its committed figures (at the report's own threshold)."""
    preds: dict[str, pd.DataFrame] = {}
    results: dict[str, dict] = {}
    for recipe in shipped.RECIPES:
        df = safe_report(shipped.load_predictions, recipe, set_name)
        if df is not None and len(df):
            preds[recipe] = df
            results[recipe] = shipped.metrics_at(df, threshold)
            continue
        committed = ((metrics[recipe] or {}).get("sets") or {}).get(set_name)
        if committed:
            results[recipe] = committed
            st.caption(f"{recipe}: no predictions_{set_name}.csv — showing the committed figures at "
                       f"threshold {(metrics[recipe] or {}).get('threshold', 0.5)}; the slider cannot recompute them.")
        elif metrics[recipe] is None:
            reports_hint(recipe, "evaluation report")
    return preds, results


def metrics_table(results: dict[str, dict]) -> pd.DataFrame:
    return pd.DataFrame({
        shipped.RECIPE_TITLES.get(r, r): {
            "faces (n)": f"{m['n']:,}",
            "accuracy": pct(m.get("accuracy")),
            "balanced accuracy": pct(m.get("balanced_accuracy")),
            "precision with_mask": pct(m["precision"][WITH_MASK]),
            "recall with_mask": pct(m["recall"][WITH_MASK]),
            "F1 with_mask": pct(m["f1"][WITH_MASK]),
            "precision without_mask": pct(m["precision"][WITHOUT_MASK]),
            "recall without_mask": pct(m["recall"][WITHOUT_MASK]),
            "F1 without_mask": pct(m["f1"][WITHOUT_MASK]),
            "ROC AUC": "–" if m.get("roc_auc") is None else f"{m['roc_auc']:.4f}",
            "calibration error (ECE)": "–" if m.get("ece") is None else f"{m['ece']:.4f}",
        }
        for r, m in results.items()
    })


def render_metrics(set_name: str, threshold: float, results: dict[str, dict], preds: dict[str, pd.DataFrame]) -> None:
    st.header(f"Metrics at threshold {threshold:.2f}")
    if set_name.startswith("dev_scenes"):
        st.caption("Faces of real photos, cropped from their ground-truth boxes (the detector is not involved). "
                   "The robust model learnt from the faces of the *train* fold; the honest figure is the holdout fold.")
    cols = st.columns(len(results) + 1)
    for col, (r, m) in zip(cols, results.items()):
        col.metric(f"Accuracy · {r}", pct(m.get("accuracy")))
    cols[-1].metric("Original (reported, validation)", pct(shipped.ORIGINAL_ACCURACY))
    table = metrics_table(results)
    st.dataframe(table, width="stretch", height=35 * (len(table) + 1) + 3)
    for recipe, df in preds.items():
        if "truth" in df and (df["truth"] == INCORRECT).any():
            inc = df[df["truth"] == INCORRECT]
            st.caption(f"{recipe}: {len(inc)} faces wear the mask incorrectly (below the nose); they have no "
                       f"binary truth and are left out above. At this threshold "
                       f"{pct((inc['p_mask'] >= threshold).mean(), 1)} of them are called with_mask.")


def render_three_classes(preds: dict[str, pd.DataFrame], threshold: float, metrics: dict[str, dict | None]) -> None:
    """The labels themselves for a three-class model: a 3×3 confusion at this threshold, and the
    hard real cases of the extra faces' holdout."""
    three = {r: df for r, df in preds.items() if shipped.has_third_class(df)}
    if not three:
        return
    st.header("Three classes: masks worn below the nose")
    st.caption("The figures above are the binary view: compliant (with_mask) or not. A three-class model also "
               "says *which* kind of not: `without_mask` or `mask_incorrect` (a mask below the nose or on the chin). "
               "Below p(with_mask) < threshold, the likelier of the two is the label.")
    for r, df in three.items():
        t = shipped.three_class_at(df, threshold)
        a, b = st.columns(2)
        a.plotly_chart(charts.confusion(t["confusion"], False, f"{r} · three classes · counts"), key=f"cm3_{r}")
        b.plotly_chart(charts.confusion(t["confusion"], True, f"{r} · three classes · normalised"), key=f"cm3n_{r}")
        empty = "" if (df["truth"] == INCORRECT).any() else \
            "This set has no incorrectly worn masks (Face Mask 12K has none): that row stays empty. "
        st.caption(f"{empty}Balanced accuracy over the classes present: {pct(t['balanced_accuracy'], 1)}.")
        table = shipped.extra_holdout_table(metrics.get(r))
        if table is not None:
            st.markdown("**Hard real cases** — the extra faces' holdout fold (real crops, split by source photo, "
                        "never learnt from; threshold 0.5):")
            shown = table.assign(share=table["share"].map(lambda v: pct(v, 1)))
            st.dataframe(shown, hide_index=True, width="stretch")


def render_confusions(results: dict[str, dict]) -> None:
    st.header("Confusion matrices")
    st.caption("Rows: the truth; columns: what the model said. The normalised matrix divides each row by its "
               "total, so its diagonal is each class's recall.")
    for r, m in results.items():
        st.markdown(f"**{shipped.RECIPE_TITLES.get(r, r)}**")
        a, b = st.columns(2)
        a.plotly_chart(charts.confusion(m["confusion"], False, f"{r} · counts"), key=f"cm_{r}")
        b.plotly_chart(charts.confusion(m["confusion"], True, f"{r} · normalised"), key=f"cmn_{r}")


def render_curves(preds: dict[str, pd.DataFrame], results: dict[str, dict], threshold: float) -> None:
    if not preds:
        return
    st.header("Curves")
    rocs, prs, rels, aucs, roc_marks, pr_marks = {}, {}, {}, {}, {}, {}
    for r, df in preds.items():
        y, p = shipped.binary_frame(df)
        if len(set(y.tolist())) < 2:
            continue
        rocs[r], prs[r], rels[r] = shipped.roc_points(y, p), shipped.pr_points(y, p), shipped.reliability(y, p)
        aucs[r] = results[r].get("roc_auc") or float("nan")
        m = results[r]
        roc_marks[r] = (1 - (m["recall"][WITHOUT_MASK] or 0), m["recall"][WITH_MASK] or 0)
        pr_marks[r] = (m["recall"][WITH_MASK] or 0, m["precision"][WITH_MASK] or 0)
    if not rocs:
        st.info("This set holds only one class, so ROC and precision-recall curves are undefined.")
        return
    roc, pr = charts.roc(rocs, aucs, roc_marks), charts.precision_recall(prs, pr_marks)
    a, b = st.columns(2)
    a.plotly_chart(roc, key="roc")
    b.plotly_chart(pr, key="pr")
    st.caption("Each model has its own colour, line style and marker; the marker shows where the current threshold "
               "puts it." + (" The small plot inside a chart zooms into the corner (dotted box) where the curves "
                             "lie on top of each other." if charts.has_inset(roc) or charts.has_inset(pr) else "")
               + " The precision axis starts just under the share of masked faces, the lowest precision possible.")
    a, b = st.columns(2)
    with a:
        st.plotly_chart(charts.calibration(rels), key="cal")
        st.caption("Reliability: faces grouped by p(with_mask) in bins of 0.1 (empty bins left out); each point is "
                   "a bin, sized and labelled by its number of faces. On the diagonal, p = 0.8 means 80 % of those "
                   "faces are masked; below it the model is over-confident in masks. It does not depend on the "
                   "threshold.")
    with b:
        st.plotly_chart(charts.probability_histogram(preds, threshold), key="hist")
        st.caption("How p(with_mask) is spread for each true class (log scale); the dashed line is the threshold.")


def render_probes(metrics: dict[str, dict | None]) -> None:
    tables = {r: {probe: shipped.probe_table(metrics[r], probe) for probe in ("resolution", "lighting")}
              for r in shipped.RECIPES if (metrics[r] or {}).get("probes")}
    if not tables:
        return
    st.header("Robustness probes (Test set)")
    st.caption("Resolution: every test face shrunk to N pixels wide and enlarged back — a distant face. "
               "Lighting: brightness multiplied by a factor. Bars: share of faces now classified **wrong**, "
               "with the number of faces in brackets; all charts share one scale.")
    errors = [1 - v for probes in tables.values() for found in probes.values() if found
              for col in found[0].columns[1:] for v in found[0][col].dropna()]
    y_max = max(0.01, max(errors, default=0.0)) * 1.25
    for r, probes in tables.items():
        a, b = st.columns(2)
        res, light = probes["resolution"], probes["lighting"]
        if res:
            a.plotly_chart(charts.probe_bars(res[0], "width (px)", f"{r} · face width", n=res[1], y_max=y_max),
                           key=f"res_{r}")
        if light:
            b.plotly_chart(charts.probe_bars(light[0], "brightness ×", f"{r} · lighting", n=light[1], y_max=y_max),
                           key=f"light_{r}")


def render_whole_pipeline() -> None:
    """Recall by face height through detector + classifier (models/robust/scenes_holdout.json)."""
    doc = safe_report(shipped.load_scenes, "robust")
    if doc is None:
        return
    st.header("Whole photo pipeline by face height")
    st.caption(f"The holdout street photos ({doc['images']} images, {doc['all']['n']:,} labelled faces) through the "
               f"Photos page's pipeline: detector `{doc['detector']}`, crop, shipped classifier. A face counts when "
               f"a detection overlaps it (IoU ≥ {doc['min_iou']}) and its verdict is right (a mask worn below the "
               f"nose is right when not called with_mask). All faces: {pct(doc['all'].get('right_share'), 1)} "
               f"found and labelled right, {pct(doc['all'].get('found_share'), 1)} found; "
               f"{doc['false_positives_per_image']:.2f} false detections per photo. Under each bin, its number of "
               "faces: the incorrectly worn masks are few.")
    st.plotly_chart(charts.recall_by_height(shipped.scenes_by_height(doc)), key="scenes_by_height")


def render_mistakes(preds: dict[str, pd.DataFrame], set_name: str, threshold: float) -> None:
    st.header("Mistakes at this threshold")
    if not preds:
        st.caption("Needs a predictions CSV.")
        return
    from views.gallery import mistakes_gallery  # the one gallery, shared with Failure analysis

    recipe = st.radio("Model", list(preds), horizontal=True, key="mistakes_recipe")
    mistakes_gallery(preds[recipe], set_name, threshold, "mistakes", faces=12)


def main() -> None:
    render_intro()
    metrics = {r: safe_report(shipped.load_metrics, r) for r in shipped.RECIPES}
    sets = evaluated_sets(metrics)
    if not sets:
        for recipe in shipped.RECIPES:
            reports_hint(recipe, "evaluation report (metrics.json, predictions_*.csv)")
        return
    set_name, threshold = pick_set_and_threshold(sets, metrics)
    preds, results = compute_results(set_name, threshold, metrics)
    if not results:
        st.warning(f"No figures for {set_name} yet.")
        return
    render_metrics(set_name, threshold, results, preds)
    render_confusions(results)
    render_three_classes(preds, threshold, metrics)
    render_curves(preds, results, threshold)
    render_probes(metrics)
    render_whole_pipeline()
    render_mistakes(preds, set_name, threshold)


main()
