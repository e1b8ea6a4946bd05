"""Training: per-epoch curves of the seed and robust runs side by side, and their model cards."""

from __future__ import annotations

import json

import pandas as pd
import streamlit as st

from maskdash import charts

from maskdash.evaluation import shipped
from views.common import reports_hint, safe_report

st.title("Training")
st.markdown(
    "Each model was trained for a number of **epochs** (full passes over the training images). "
    "After every epoch it is scored on the *validation* images it never learns from; the gap "
    "between training and validation curves shows overfitting. The dotted line is the "
    f"original system's reported validation accuracy ({100 * shipped.ORIGINAL_ACCURACY:.2f} %)."
)

histories: dict[str, pd.DataFrame] = {}
for recipe in shipped.RECIPES:
    h = safe_report(shipped.load_history, recipe)
    if h is None:
        reports_hint(recipe, "training history (history.csv)")
    else:
        histories[recipe] = h

if histories:
    st.header("Summary")
    rows = []
    for recipe, h in histories.items():
        # the online trainer keeps the epoch with the lowest mean of validation and scene_val loss
        key = "selection_loss" if "selection_loss" in h and h["selection_loss"].notna().any() else "val_loss"
        best = h.loc[h[key].idxmin()] if h[key].notna().any() else None
        stages = ", ".join(f"{s}: {n}" for s, n in h["stage"].value_counts(sort=False).items()) if h["stage"].notna().any() else "–"
        rows.append({
            "run": shipped.RECIPE_TITLES.get(recipe, recipe),
            "epochs": len(h),
            "stages (epochs)": stages,
            "kept epoch (checkpoint rule)": int(best["epoch"]) if best is not None else None,
            "val accuracy there": f"{100 * best['val_accuracy']:.2f} %" if best is not None and pd.notna(best["val_accuracy"]) else "–",
            "final train accuracy": f"{100 * h['accuracy'].iloc[-1]:.2f} %" if pd.notna(h["accuracy"].iloc[-1]) else "–",
            "training time": f"{h['epoch_seconds'].sum() / 60:.1f} min" if h["epoch_seconds"].notna().any() else "–",
        })
    st.dataframe(pd.DataFrame(rows).set_index("run"), width="stretch")

    st.header("Loss and accuracy")
    c1, c2 = st.columns(2)
    c1.plotly_chart(charts.training_curves(histories, "loss"), key="loss")
    c2.plotly_chart(charts.training_curves(histories, "accuracy", reference=shipped.ORIGINAL_ACCURACY),
                    key="accuracy")
    st.caption("Dashed: training (on augmented images); solid: validation. Hover a point for its stage "
               "(head = only the new layers learn; fine_tune = the top of MobileNetV2 learns too).")

    st.header("Learning rate and epoch time")
    c3, c4 = st.columns(2)
    c3.plotly_chart(charts.learning_rate(histories), key="lr")
    c4.plotly_chart(charts.epoch_time(histories), key="time")
    st.caption("The learning rate is drawn as steps: each drop comes from a new training stage or from "
               "ReduceLROnPlateau after the validation loss stopped improving.")

    with st.expander("Per-epoch numbers"):
        for recipe, h in histories.items():
            st.markdown(f"**{recipe}**")
            st.dataframe(h, hide_index=True, width="stretch")

st.header("Model cards")
cols = st.columns(len(shipped.RECIPES))
for col, recipe in zip(cols, shipped.RECIPES):
    with col:
        st.subheader(shipped.RECIPE_TITLES.get(recipe, recipe))
        card = safe_report(shipped.load_model_card, recipe)
        if card is None:
            st.caption(f"No MODEL_CARD.md in `{shipped.recipe_dir(recipe)}` yet.")
        else:
            with st.container(height=600):
                st.markdown(card)
        args = safe_report(shipped.load_args, recipe)
        if args:
            with st.expander("Training arguments (args.json)"):
                st.code(json.dumps(args, indent=2), language="json")
