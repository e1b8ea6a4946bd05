"""Reading the committed reports and recomputing metrics from predictions (maskdash.evaluation.shipped),
and the hand-checkable convolution of the "How it works" page (maskdash.model.convolution)."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pandas as pd
import pytest

from conftest import need
from maskdash import settings
from maskdash.model import convolution
from maskdash.evaluation import evaluate
from maskdash.evaluation import shipped


def _frame(truth: list[str], p: list[float]) -> pd.DataFrame:
    return pd.DataFrame({"path": [f"x/{i}.jpg" for i in range(len(p))], "truth": truth, "p_mask": p})


def test_metrics_at_recomputes_at_the_threshold():
    df = _frame(["with_mask", "with_mask", "with_mask", "without_mask", "without_mask"], [0.9, 0.6, 0.3, 0.55, 0.1])
    m = shipped.metrics_at(df, 0.5)
    assert m["confusion"] == [[2, 1], [1, 1]]
    assert m["accuracy"] == pytest.approx(3 / 5)
    assert m["recall"]["with_mask"] == pytest.approx(2 / 3)
    m = shipped.metrics_at(df, 0.58)
    assert m["confusion"] == [[2, 1], [0, 2]]
    assert m["precision"]["with_mask"] == pytest.approx(1.0)
    assert m["roc_auc"] == pytest.approx(5 / 6)  # threshold-free
    everything_mask = shipped.metrics_at(df, 0.0)
    assert everything_mask["recall"] == {"with_mask": 1.0, "without_mask": 0.0}


def test_metrics_at_leaves_out_faces_without_binary_truth():
    df = _frame(["with_mask", "mask_weared_incorrect", "without_mask"], [0.8, 0.9, 0.2])
    m = shipped.metrics_at(df, 0.5)
    assert m["n"] == 2 and m["accuracy"] == 1.0


def test_roc_points_area_matches_the_rank_auc():
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 500)
    p = np.round(np.clip(0.35 * y + rng.random(500) * 0.7, 0, 1), 2)  # many ties
    pts = shipped.roc_points(y, p)
    assert (pts.iloc[0]["fpr"], pts.iloc[0]["tpr"]) == (0.0, 0.0)
    assert (pts.iloc[-1]["fpr"], pts.iloc[-1]["tpr"]) == (1.0, 1.0)
    assert np.all(np.diff(pts["fpr"]) >= 0) and np.all(np.diff(pts["tpr"]) >= 0)
    area = float(np.sum(np.diff(pts["fpr"]) * (pts["tpr"].to_numpy()[1:] + pts["tpr"].to_numpy()[:-1]) / 2))
    assert area == pytest.approx(evaluate.roc_auc(y == 1, p), abs=1e-9)


def test_pr_points_end_at_full_recall_with_base_rate_precision():
    y = np.array([1, 1, 0, 1, 0, 0, 0, 1])
    p = np.array([0.9, 0.8, 0.7, 0.6, 0.4, 0.3, 0.2, 0.1])
    pr = shipped.pr_points(y, p)
    assert pr.iloc[-1]["recall"] == 1.0 and pr.iloc[-1]["precision"] == pytest.approx(0.5)
    assert pr.iloc[2]["recall"] == 0.5 and pr.iloc[2]["precision"] == 1.0  # top two are masks


def test_reliability_bins():
    y = np.array([1, 1, 0, 0, 1])
    p = np.array([0.95, 0.91, 0.05, 0.12, 0.5])
    t = shipped.reliability(y, p, bins=10)
    assert t["count"].sum() == 5
    top = t[t["bin_low"] == 0.9].iloc[0]
    assert top["count"] == 2 and top["fraction_with_mask"] == 1.0 and top["mean_p"] == pytest.approx(0.93)
    assert len(t) == 4  # empty bins left out


def test_missing_reports_are_none(tmp_path, monkeypatch):
    monkeypatch.setenv("MASKDASH_REPORTS", str(tmp_path))
    assert shipped.load_metrics("robust") is None
    assert shipped.load_history("seed") is None
    assert shipped.load_model_card("robust") is None
    assert shipped.load_predictions("robust", "test") is None
    assert shipped.evaluated_sets("robust") == []


def test_damaged_reports_raise_a_readable_error(tmp_path, monkeypatch):
    monkeypatch.setenv("MASKDASH_REPORTS", str(tmp_path))
    (tmp_path / "robust").mkdir()
    (tmp_path / "robust" / "metrics.json").write_text("{not json")
    (tmp_path / "robust" / "history.csv").write_text("epoch,accuracy\n1,0.5\n")
    with pytest.raises(shipped.ReportError, match="metrics.json"):
        shipped.load_metrics("robust")
    with pytest.raises(shipped.ReportError, match="lacks columns: loss, val_loss"):
        shipped.load_history("robust")


def test_dev_scenes_holdout_comes_from_the_scenes_file(tmp_path, monkeypatch):
    monkeypatch.setenv("MASKDASH_REPORTS", str(tmp_path))
    d = tmp_path / "robust"
    d.mkdir()
    pd.DataFrame({"path": ["a.jpg", "b.jpg", "c.jpg"], "face": [0, 0, 1], "truth": ["with_mask"] * 3,
                  "fold": ["train", "holdout", "holdout"], "p_mask": [0.9, 0.8, 0.2]}
                 ).to_csv(d / "predictions_dev_scenes.csv", index=False)
    (d / "metrics.json").write_text(json.dumps({"sets": {"test": {"n": 1}}}))
    hold = shipped.load_predictions("robust", "dev_scenes_holdout")
    assert list(hold["path"]) == ["b.jpg", "c.jpg"]
    assert shipped.evaluated_sets("robust", shipped.load_metrics("robust")) == ["test", "dev_scenes", "dev_scenes_holdout"]


def test_committed_predictions_reproduce_committed_metrics():
    """The Evaluation page's recomputation at the report's own threshold gives the report's figures."""
    for recipe in shipped.RECIPES:
        m = shipped.load_metrics(recipe)
        if m is None:
            continue
        for set_name, committed in m["sets"].items():
            df = shipped.load_predictions(recipe, set_name)
            if df is None:
                continue
            again = shipped.metrics_at(df, m.get("threshold", 0.5))
            assert again["n"] == committed["n"], (recipe, set_name)
            assert again["confusion"] == committed["confusion"], (recipe, set_name)
            assert again["accuracy"] == pytest.approx(committed["accuracy"], abs=1e-9)
    need(shipped.load_metrics("robust") is not None, "models/robust/metrics.json not committed yet")


# ---------------------------------------------------------------- convolution explainer


def test_run_folders_are_recognised_by_feed_and_recipe(tmp_path):
    """`report` tells the trainings apart by args.json's `feed` (folders written before it are
    recognised too); the model cards keep the matching recipe text."""
    from maskdash import settings
    from maskdash.evaluation import report
    from maskdash.train import config

    for folder, expected in (("robust", ("robust", "cached")), ("seed", ("seed", "cached"))):
        args = json.loads((settings.MODELS_DIR / folder / "args.json").read_text())
        assert config.recognise(args) == expected
        assert report._recipe_text(*expected) == report.RECIPES[expected]
    # the shipped model is the three-class one: its card says so, with its own recipe text
    card = (settings.MODELS_DIR / "robust" / "MODEL_CARD.md").read_text()
    assert "Three-class face classifier" in card and "widened to three outputs" in card
    assert "cosine decay" in report._recipe_text("robust", "online")
    # a three-class model trained on the online feed gets the online text, from the same card writer
    import shutil

    shutil.copytree(settings.MODELS_DIR / "robust", tmp_path / "robust")
    args = json.loads((tmp_path / "robust" / "args.json").read_text())
    (tmp_path / "robust" / "args.json").write_text(json.dumps({**args, "feed": "online", "cut": "block_2_add"}))
    card = report.write_model_card(tmp_path / "robust").read_text()
    recipe_text = card.split("## Recipe", 1)[1].split("## Training data", 1)[0]
    assert "with the online feed (`train --feed online --classes 3" in recipe_text
    assert "blocks 13–16 and the head fine-tuned on a CPU with the cached feed" not in recipe_text
    for recipe, feed in config.RECIPES:  # what the trainer writes now says it outright
        written = config.to_json(config.resolve(config.TrainArgs(data="d", recipe=recipe, feed=feed)))
        assert written["feed"] == feed and config.recognise(written) == (recipe, feed)


def test_worked_example_cell_is_31():
    out = convolution.convolve_valid(convolution.EXAMPLE_IMAGE, convolution.EXAMPLE_KERNEL)
    assert out.shape == (4, 4)
    assert out[convolution.EXAMPLE_CELL] == 31
    text = convolution.arithmetic(convolution.EXAMPLE_IMAGE, convolution.EXAMPLE_KERNEL, *convolution.EXAMPLE_CELL)
    assert text == "3×1 + 1×0 + 4×1 + 2×0 + 6×1 + 5×0 + 9×1 + 7×0 + 9×1 = 31"


@pytest.mark.parametrize("name", list(convolution.KERNELS))
def test_convolution_matches_opencv(name):
    kernel = convolution.KERNELS[name]
    img = convolution.EXAMPLE_IMAGE
    ours = convolution.convolve_valid(img, kernel)
    # cv2.filter2D is a correlation too; keep the "valid" part of its same-size output
    ref = cv2.filter2D(img.astype(np.float64), -1, kernel.astype(np.float64), borderType=cv2.BORDER_CONSTANT)[1:-1, 1:-1]
    assert np.array_equal(ours, ref.astype(np.int64))


def test_negative_weights_are_bracketed():
    k = convolution.KERNELS["vertical edge"]
    text = convolution.arithmetic(convolution.EXAMPLE_IMAGE, k, 0, 0)
    assert text.startswith("3×1 + 1×0 + 4×(-1)") and text.endswith("= -4")


# ---------------------------------------------------------------- readers for the pages


CARD = """# Model card: MaskDash `x`

## Training data and arguments

- `data`: /home/someone/data/facemask12k
- `base_weights`: .wts/weights.h5
- `epochs`: 30

## Notes

Trained on a leased machine; a one-off script measured it.

## Limits

- Faces under 16 px are unreliable.
"""


def test_card_for_users_drops_the_notes_and_machine_paths():
    card = shipped.card_for_users(CARD)
    assert "## Notes" not in card and "leased" not in card and "one-off" not in card
    assert "## Limits" in card and "Faces under 16 px" in card
    assert "- `data`: facemask12k" in card and "/home/" not in card
    assert "- `base_weights`: weights.h5" in card and "- `epochs`: 30" in card


def test_committed_cards_for_users_keep_their_results():
    for recipe in shipped.RECIPES:
        card = shipped.load_model_card(recipe)
        if card is None:
            continue
        shown = shipped.card_for_users(card)
        assert "## Results" in shown and "## Notes" not in shown
        assert "/work/" not in shown and "/tmp/" not in shown


def test_args_for_users():
    args = {"data": "/work/shared/data/facemask12k", "out": "/tmp/a", "epochs": 3, "pack": {"train": 5}}
    assert shipped.args_for_users(args) == {"data": "facemask12k", "epochs": 3, "pack": {"train": 5}}


def test_trainer_and_what_the_history_measured():
    online = {"data": "pack/train_pack.npz", "cut": "block_2_add", "batch_size": 128, "pack": {"train": 11241}}
    cached = {"data": "/d/facemask12k", "recipe": "seed", "batch_size": 64}
    assert shipped.trainer_of(online) == "online" and shipped.trainer_of(cached) == "cached"
    assert shipped.validated_on_pack(online) and not shipped.validated_on_pack(cached)
    last_batch = pd.DataFrame({"accuracy": [87 / 105, 103 / 105, 1.0]})  # 11241 % 128 = 105 faces
    assert shipped.train_accuracy_scope(last_batch, online) == "last batch of 105 faces"
    epoch_mean = pd.DataFrame({"accuracy": [0.91234, 0.95678, 0.97001]})
    assert shipped.train_accuracy_scope(epoch_mean, online) == "epoch"
    assert shipped.train_accuracy_scope(last_batch, cached) == "epoch"  # no pack: nothing to tell


def test_probe_table_carries_the_number_of_faces():
    m = {"sets": {"test": {"confusion": [[480, 3], [12, 497]]}},
         "probes": {"resolution": {"64": {"with_mask": 1.0, "without_mask": 0.99}, "32": {"with_mask": 0.9, "without_mask": 0.98}},
                    "lighting": {"1.6": {"accuracy": 0.97}, "0.4": {"accuracy": 0.98}}}}
    table, n = shipped.probe_table(m, "resolution")
    assert list(table["width (px)"]) == [32, 64] and list(table["with_mask"]) == [0.9, 1.0]
    assert n == {"with_mask": 483, "without_mask": 509}
    table, n = shipped.probe_table(m, "lighting")
    assert list(table["brightness ×"]) == [0.4, 1.6] and n == {"all faces": 992}
    assert shipped.probe_table({}, "lighting") is None


def test_export_descriptions_match_the_model_outputs():
    from maskdash.model.runtime import load_classifier

    classes = shipped.model_classes(shipped.load_args("robust"))
    units = load_classifier(settings.shipped_model_path(), warm_up=0).units
    assert len(classes) == units  # what the files say is what the shipped model gives
    assert shipped.labels_text(classes).splitlines() == list(classes)[:units]
    spec = shipped.input_description(None, classes)
    assert spec["input"]["shape"] == [1, 224, 224, 3] and spec["input"]["dtype"] == "float32"
    assert spec["output"]["labels"] == list(classes) and spec["output"]["shape"] == [1, units]
    assert shipped.labels_text().splitlines() == ["with_mask", "without_mask"]  # a binary model's
    json.dumps(spec)  # plain JSON
    sizes = shipped.model_sizes("robust")
    assert set(sizes) == {".tflite", ".keras"}
    assert len(shipped.read_model("robust", ".tflite")) == sizes[".tflite"]
    with pytest.raises(ValueError):
        shipped.read_model("robust", ".h5")
