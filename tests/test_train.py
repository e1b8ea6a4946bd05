"""A tiny real training run: a few real images, real ImageNet base, loadable result, resume."""

import csv
import json

import numpy as np

from maskdash.model.runtime import load_classifier
from maskdash.train.config import TrainArgs
from maskdash.train.loop import train
from maskdash.train.run import HISTORY_COLUMNS


def test_tiny_run_trains_resumes_and_loads(tmp_path, fm12k, base_weights):
    run = tmp_path / "run"
    args = dict(data=str(fm12k), recipe="robust", out=str(run), base_weights=base_weights,
                limit=6, views=1, head_epochs=1, batch_size=8)
    train(TrainArgs(epochs=1, **args))
    assert json.loads((run / "args.json").read_text())["recipe"] == "robust"
    assert json.loads((run / "state.json").read_text())["epoch"] == 1

    best = train(TrainArgs(epochs=2, **args))  # resumes from epoch 1, cached features reused
    with open(run / "history.csv") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == HISTORY_COLUMNS
    assert [r["epoch"] for r in rows] == ["1", "2"]
    assert [r["stage"] for r in rows] == ["head", "fine_tune"]
    assert float(rows[1]["lr"]) < float(rows[0]["lr"])  # fine-tuning at a lower rate
    assert all(float(r["epoch_seconds"]) > 0 for r in rows)

    clf = load_classifier(best, engine="keras")
    p = clf.predict(np.zeros((3, 224, 224, 3), np.uint8))
    assert p.shape == (3,) and np.all((p >= 0) & (p <= 1))


def test_seed_recipe_tiny(tmp_path, fm12k, base_weights):
    run = tmp_path / "seed"
    best = train(TrainArgs(data=str(fm12k), recipe="seed", out=str(run), base_weights=base_weights,
                           limit=4, epochs=1, batch_size=8))
    model = load_classifier(best, engine="keras").keras_model
    assert any(layer.name == "flatten" for layer in model.layers)


def test_other_arguments_refuse_to_resume(tmp_path, fm12k, base_weights):
    import pytest

    run = tmp_path / "run"
    train(TrainArgs(data=str(fm12k), recipe="seed", out=str(run), base_weights=base_weights, limit=2, epochs=1))
    with pytest.raises(SystemExit, match="other arguments"):
        train(TrainArgs(data=str(fm12k), recipe="seed", out=str(run), base_weights=base_weights, limit=3, epochs=1))


def test_dev_scene_faces_weigh_each_class_equally():
    from maskdash.train.feeds import sample_weights

    labels = np.array([0, 1, 0, 1, 0])
    source = np.array([0, 0, 1, 1, 1])  # the last three are dev-scene faces: two masked, one not
    w = sample_weights(labels, source, dev_weight=3.0)
    assert list(w[:2]) == [1.0, 1.0]
    assert w[2] == w[4] == 2.25 and w[3] == 4.5  # 3 · 3 / (2 · n_class)
    assert w[[2, 4]].sum() == w[3]  # each dev class carries the same total weight
