"""The model the app ships, measured here on real data (not read from its committed reports):
Face Mask 12K Test and its de-duplicated version, the resolution and lighting probes, and that
the committed reports agree with what the model does now."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from maskdash import settings

from maskdash.data import datasets


from maskdash import labels
from maskdash.evaluation import evaluate
from maskdash.data.audit import dedup_test_paths


def rel(path) -> str:
    """Test/<Class>/<file>: how the audit and the predictions CSVs name a data-set file."""
    return "/".join(Path(path).parts[-3:])


@pytest.fixture(scope="module")
def test_split(fm12k):
    loaded = datasets.load_samples(datasets.list_split(fm12k, "Test"), progress=False)
    assert not loaded.skipped and len(loaded.labels) == 992
    return loaded


@pytest.fixture(scope="module")
def clf(shipped_classifier):
    return shipped_classifier  # model.tflite, as the app uses it, loaded once per test session


@pytest.fixture(scope="module")
def p_test(clf, test_split):
    return clf.predict_batched(test_split.images)


def test_test_split_accuracy(test_split, p_test):
    m = evaluate.metrics(test_split.labels, p_test)
    assert m["accuracy"] >= 0.995, m
    assert m["roc_auc"] >= 0.995, m


def test_deduplicated_test_split_accuracy(test_split, p_test):
    keep = dedup_test_paths(settings.MODELS_DIR / "audit")
    sel = np.array([rel(p) in keep for p in test_split.paths])
    assert 900 < sel.sum() < len(sel)  # the audit removed the leaked duplicates, and only those
    m = evaluate.metrics(test_split.labels[sel], p_test[sel])
    assert m["accuracy"] >= 0.995, m


def test_resolution_probe_32px_keeps_each_class(clf, test_split, p_test):
    import cv2

    small = np.stack([cv2.resize(cv2.resize(img, (32, 32), interpolation=cv2.INTER_AREA), (224, 224),
                                 interpolation=cv2.INTER_LINEAR) for img in test_split.images])
    p = clf.predict_batched(small)
    for k, cls in enumerate(labels.CLASSES):
        sel = test_split.labels == k
        kept = ((p[sel] >= 0.5) == (k == 0)).mean()
        assert kept >= 0.95, f"{cls}: only {kept:.3f} keep their label at 32 px"


@pytest.mark.parametrize("factor", [0.4, 1.6])
def test_lighting_probe(clf, test_split, factor):
    from maskdash.data.augment import brightness

    p = clf.predict_batched(np.stack([brightness(img, factor) for img in test_split.images]))
    acc = ((p >= 0.5) == (test_split.labels == 0)).mean()
    assert acc >= 0.98, f"×{factor}: accuracy {acc:.4f}"


def test_committed_predictions_match_the_model(shipped_model, test_split, p_test):
    """predictions_test.csv was written by `report` from model.keras; the shipped TFLite file must
    give the same labels (float16 export) on the same files."""
    with open(shipped_model.parent / "predictions_test.csv") as f:
        committed = {row["path"]: float(row["p_mask"]) for row in csv.DictReader(f)}
    ours = {rel(path): p for path, p in zip(test_split.paths, p_test)}
    committed = {rel(k): v for k, v in committed.items()}
    assert len(ours) == len(committed) == 992
    agree = np.mean([(ours[k] >= 0.5) == (committed[k] >= 0.5) for k in committed])
    assert agree >= 0.998
    doc = json.loads((shipped_model.parent / "metrics.json").read_text())
    assert abs(doc["sets"]["test"]["accuracy"] - evaluate.metrics(test_split.labels, p_test)["accuracy"]) < 0.005


def test_dev_scene_holdout_balanced_accuracy(clf, shipped_scene_results):
    """Real crowded scenes the model never trained on (the holdout fold), faces cut from the
    ground-truth boxes: the issue's goal is ≥ 95 % balanced accuracy."""
    results, rows = shipped_scene_results
    m = results["dev_scenes_holdout"]
    assert m["n"] > 1000
    assert m["balanced_accuracy"] >= 0.95, m
    # black and white (CCTV, infrared night modes): measured beside colour, and the figure the model
    # card and the Photos page quote is what this model gives
    grey = results["dev_scenes_holdout_grayscale"]
    committed = json.loads((settings.shipped_model_dir("robust") / "metrics.json").read_text())["dev_scenes_holdout_grayscale"]
    for c in (labels.WITH_MASK, labels.WITHOUT_MASK):
        assert grey[c]["n"] == committed[c]["n"] > 100
        assert abs(grey[c]["kept"] - committed[c]["kept"]) <= 0.02, (c, grey[c], committed[c])
        assert grey[c]["kept"] >= 0.75, grey  # a floor under today's figure: black and white must not get worse


def test_objects_over_the_mouth_are_not_masks(clf, test_split):
    """The original's failure: anything over the mouth read as a mask. The failure study's drawn
    phone and cup (a generator the model never trained on) over unmasked Test faces must mostly
    be called `without_mask`; untouched faces stay right. (The study's drawn hand and scarf are
    still read as masks — see the model card.)"""
    from maskdash.analysis.occluders import occlude

    faces = test_split.images[test_split.labels == 1][::4][:128]
    base = clf.predict_batched(faces)
    assert (base < 0.5).mean() >= 0.98
    for j, kind in enumerate(("phone", "cup")):
        imgs = np.stack([occlude(f, kind, None, rng=np.random.default_rng([0, i, j + 1])).image
                         for i, f in enumerate(faces)])
        called_mask = (clf.predict_batched(imgs) >= 0.5).mean()
        assert called_mask <= 0.15, f"{kind}: {called_mask:.3f} of covered faces called with_mask"
