"""Training: per-epoch curves of the seed and robust runs side by side, their model cards, and
the shipped model's files to download."""

from __future__ import annotations

import json
import re
from functools import partial

import pandas as pd
import streamlit as st

from maskdash import charts
from maskdash.evaluation import shipped
from maskdash.settings import display_path
from views.glossary import term
from views.common import pct, reports_hint, safe_report


def render_intro() -> None:
    st.title("Training")
    st.markdown(
        f"Each model was trained for a number of **{term('Epoch', 'epochs')}** (full passes over the training "
        "images). After every epoch it is scored on the *validation* images it never learns from; the gap "
        f"between training and validation curves shows {term('Overfitting', 'overfitting')}. The dotted line is the "
        f"original system's reported validation accuracy ({100 * shipped.ORIGINAL_ACCURACY:.2f} %)."
    )


def load_runs() -> tuple[dict[str, pd.DataFrame], dict[str, dict]]:
    """(history per recipe, args per recipe) for the recipes whose history is committed."""
    histories: dict[str, pd.DataFrame] = {}
    args: dict[str, dict] = {}
    for recipe in shipped.RECIPES:
        h = safe_report(shipped.load_history, recipe)
        if h is None:
            reports_hint(recipe, "training history (history.csv)")
            continue
        histories[recipe] = h
        args[recipe] = safe_report(shipped.load_args, recipe) or {}
    return histories, args


def kept_epoch(h: pd.DataFrame) -> pd.Series | None:
    """The checkpoint the trainer kept: the online trainer's lowest mean of validation and
    scene_val loss, else the lowest validation loss."""
    key = "selection_loss" if "selection_loss" in h and h["selection_loss"].notna().any() else "val_loss"
    return h.loc[h[key].idxmin()] if h[key].notna().any() else None


def summary_table(histories: dict[str, pd.DataFrame]) -> pd.DataFrame:
    rows = []
    for recipe, h in histories.items():
        best = kept_epoch(h)
        metrics = safe_report(shipped.load_metrics, recipe) or {}
        stages = (", ".join(f"{s}: {n}" for s, n in h["stage"].value_counts(sort=False).items())
                  if h["stage"].notna().any() else "–")
        rows.append({
            "run": shipped.RECIPE_TITLES.get(recipe, recipe),
            "epochs": len(h),
            "stages": stages,
            "kept epoch": int(best["epoch"]) if best is not None else None,
            "val. acc. then, in training": pct(best["val_accuracy"]) if best is not None else "–",
            "Validation acc., kept model": pct(((metrics.get("sets") or {}).get("validation") or {}).get("accuracy")),
            "time": f"{h['epoch_seconds'].sum() / 60:.1f} min" if h["epoch_seconds"].notna().any() else "–",
        })
    return pd.DataFrame(rows).set_index("run")


def measured_on(recipe: str, h: pd.DataFrame, args: dict) -> str:
    """What this run's per-epoch figures were measured on, for the caption under the summary."""
    scope = shipped.train_accuracy_scope(h, args)
    train = ("the mean over the epoch's augmented training images" if scope == "epoch"
             else f"the epoch's **{scope}** only (augmented), hence the jumps")
    val = ("the training pack's copy of Validation, every face re-encoded as a small WebP (≤ 120 px)"
           if shipped.validated_on_pack(args) else "the whole Validation split as on disk")
    return f"**{recipe}**: train accuracy and loss are {train}; validation figures are on {val}."


def render_summary(histories: dict[str, pd.DataFrame], args: dict[str, dict]) -> None:
    st.header("Summary")
    st.dataframe(summary_table(histories), width="stretch")
    st.caption(
        "*Stages*: epochs per stage. *Kept epoch*: the checkpoint the run's rule chose (lowest validation loss; "
        "for robust, lowest mean of the Validation and scene_val losses). *Val. acc. then, in training* is what the "
        "trainer measured after that epoch; *Validation acc., kept model* is the saved file scored afterwards on "
        "the whole Validation split as on disk — the figure Home and Evaluation show. *Time*: the epochs' "
        "total. " + " ".join(measured_on(r, h, args[r]) for r, h in histories.items())
    )


def render_curves(histories: dict[str, pd.DataFrame]) -> None:
    st.header("Loss and accuracy")
    c1, c2 = st.columns(2)
    c1.plotly_chart(charts.training_curves(histories, "loss"), key="train_loss")
    c2.plotly_chart(charts.training_curves(histories, "accuracy", reference=shipped.ORIGINAL_ACCURACY),
                    key="train_accuracy")
    st.caption("Dashed: training (on augmented images); solid: validation. Hover a point for its stage "
               "(head = only the new layers learn; fine_tune = the top of MobileNetV2 learns too).")


def schedule_caption(recipe: str, args: dict) -> str:
    """How this run's learning rate was set, from its own arguments (a run that started from an
    earlier model has no head epochs and fine-tunes from the first)."""
    lr, ft = args.get("lr"), args.get("fine_tune_lr")
    schedule = args.get("schedule") or ("cosine" if shipped.trainer_of(args) == "online" else "plateau")
    head = int(args.get("head_epochs") or 0)
    if recipe == "seed" or not ft:
        start = f"starts at {lr:g}" if lr else "starts at its set rate"
    elif head:
        start = f"{head} head epoch{'s' if head != 1 else ''} at {lr:g}, then fine-tuning at {ft:g}"
    else:
        start = f"fine-tunes from the first epoch at {ft:g} (it starts from an earlier model)"
    if schedule == "cosine":
        budget = f" (its length fitted to a {args['minutes']}-minute budget)" if args.get("minutes") else ""
        return (f"**{recipe}**: {start}; fine-tuning opens with a warm-up epoch at a quarter of that rate and "
                f"follows a **{term('Cosine decay', 'cosine decay')}** down to 1e-06 at the last epoch{budget}.")
    return (f"**{recipe}**: {start}; **{term('ReduceLROnPlateau')}** multiplies it by 0.3 after every 2 epochs "
            "without a better checkpoint, and EarlyStopping ends the run after 3 (a run of a few epochs may "
            "keep one rate throughout).")


def render_schedule(histories: dict[str, pd.DataFrame], args: dict[str, dict]) -> None:
    st.header("Learning rate and epoch time")
    c3, c4 = st.columns(2)
    c3.plotly_chart(charts.learning_rate(histories), key="train_lr")
    c4.plotly_chart(charts.epoch_time(histories), key="train_time")
    machines = {r: (safe_report(shipped.load_training_facts, r) or {}).get("machine") for r in histories}
    where = "; ".join(f"{r} on {m.split(';')[0]}" for r, m in machines.items() if m)
    st.caption("Learning rate — " + " ".join(schedule_caption(r, args[r]) for r in histories)
               + (f" Epoch times come from different machines ({where}): compare their shapes, not their heights."
                  if where else ""))
    with st.expander("Per-epoch numbers"):
        for recipe, h in histories.items():
            st.markdown(f"**{recipe}**")
            st.dataframe(h, hide_index=True, width="stretch")


DETECTOR_DIR = "facehead"  # models/facehead/


def demote_headings(markdown: str, levels: int = 2) -> str:
    """A card's "# Title" becomes "### Title", so that it sits under the page's own headers."""
    return re.sub(r"^(#{1,4}) ", lambda m: "#" * min(len(m.group(1)) + levels, 6) + " ", markdown, flags=re.M)


def render_cards() -> None:
    st.header("Model cards")
    st.caption("What each model is, how it was trained and how it scores. The *Training* section quotes the "
               "figures measured during training (see the summary above); *Results* are the saved model's.")
    # one under the other: the cards' result tables need the page's full width
    for recipe in shipped.RECIPES:
        st.subheader(shipped.RECIPE_TITLES.get(recipe, recipe))
        card = safe_report(shipped.load_model_card, recipe)
        if card is None:
            st.caption(f"No MODEL_CARD.md in `{display_path(shipped.recipe_dir(recipe))}` yet.")
        else:
            with st.expander("Model card"):
                st.markdown(demote_headings(shipped.card_for_users(card)))
        args = safe_report(shipped.load_args, recipe)
        if args:
            with st.expander("Training arguments (args.json)"):
                st.code(json.dumps(shipped.args_for_users(args), indent=2), language="json")
    # The photo pipeline's own face detector (python -m maskdash train-detector) has a card of its own.
    card = safe_report(shipped.load_model_card, DETECTOR_DIR)
    if card is not None:
        st.subheader("face head (the photo pipeline's face detector)")
        with st.expander("Model card"):
            st.markdown(demote_headings(shipped.card_for_users(card)))


def render_export(recipe: str = "robust") -> None:
    """Download buttons for the shipped model, its labels and its input description."""
    sizes = shipped.model_sizes(recipe)
    if not sizes:
        return
    metrics = safe_report(shipped.load_metrics, recipe) or {}
    st.header("Export the shipped model")
    st.markdown(
        "Use the model outside MaskDash: **model.tflite** for phones and small devices (TensorFlow Lite / "
        "LiteRT), **model.keras** to fine-tune it further in Keras 3. Both take one 224×224 RGB face with "
        "pixel values 0–255 (the scaling is inside the model) and give one probability per class, in the order of "
        "**labels.txt**; **input.json** spells this out."
    )
    cols = st.columns(4)
    for col, (suffix, mime) in zip(cols, shipped.EXPORT_FORMATS.items()):
        if suffix not in sizes:
            col.caption(f"No model{suffix} committed.")
            continue
        # deferred: the file is read when its button is clicked, not on every rerun of the page
        col.download_button(f"model{suffix} ({sizes[suffix] / 1e6:.1f} MB)", partial(shipped.read_model, recipe, suffix),
                            file_name=f"maskdash_{recipe}{suffix}", mime=mime, icon=":material/download:",
                            key=f"export_{suffix[1:]}", on_click="ignore")
    classes = shipped.model_classes(safe_report(shipped.load_args, recipe))
    cols[2].download_button("labels.txt", shipped.labels_text(classes), file_name="labels.txt", mime="text/plain",
                            icon=":material/download:", key="export_labels", on_click="ignore")
    cols[3].download_button("input.json", json.dumps(shipped.input_description(metrics, classes), indent=2),
                            file_name="input.json", mime="application/json", icon=":material/download:",
                            key="export_input", on_click="ignore")
    tflite = metrics.get("tflite") or {}
    if tflite.get("quantization"):
        st.caption(f"The .tflite file stores its weights as {tflite['quantization']}; on Test it gives the same label "
                   f"as the Keras file for {pct(tflite.get('agreement'))} of the faces.")


def main() -> None:
    render_intro()
    histories, args = load_runs()
    if histories:
        render_summary(histories, args)
        render_curves(histories)
        render_schedule(histories, args)
    render_cards()
    render_export()


main()
