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


def test_three_classes_learn_extra_faces_from_their_train_fold_only(tmp_path, fm12k, extra_faces, shipped_model):
    """A binary model widened to three classes learns the extra faces' train fold and chooses its
    checkpoint on their val fold as well; the holdout fold is never read."""
    from maskdash.data import datasets

    run = tmp_path / "three"
    best = train(TrainArgs(data=str(fm12k), recipe="robust", out=str(run), init=str(shipped_model.with_suffix(".keras")),
                           classes=3, extra_faces=str(extra_faces), limit=3, views=1, epochs=1, batch_size=8))
    contents = json.loads((run / "args.json").read_text())["contents"]
    assert contents["extra_faces"] == 9 and contents["extra_val"] == 9  # 3 per class, three classes
    with open(run / "skipped.csv") as f:
        assert len(f.read().splitlines()) == 1  # a header, nothing skipped
    holdout = {str(f.path) for f in datasets.list_extra_faces(extra_faces, ("holdout",))}
    used = {str(f.path) for f in datasets.list_extra_faces(extra_faces, ("train", "val"))}
    assert not holdout & used
    with open(run / "history.csv") as f:
        row = next(csv.DictReader(f))
    assert row["scene_val_loss"] and float(row["scene_val_balanced_accuracy"]) >= 0  # the val fold chose
    clf = load_classifier(best, engine="keras")
    assert clf.units == 3 and clf.probabilities(np.zeros((2, 224, 224, 3), np.uint8)).shape == (2, 3)


def test_three_class_sample_weights_balance_each_real_source():
    from maskdash.train.feeds import sample_weights

    labels = np.array([0, 1, 0, 0, 2, 1, 1, 1])
    source = np.array([0, 0, 2, 2, 2, 2, 1, 1])
    w = sample_weights(labels, source, dev_weight=1.0)
    extra = source == 2
    totals = [w[extra & (labels == c)].sum() for c in (0, 1, 2)]
    assert np.allclose(totals, totals[0])  # each class of the extra faces carries the same weight
    assert np.allclose(w[source == 1], 1.0)  # one class in the dev faces: its own share


def _tiny(run, fm12k, base_weights, **kw) -> TrainArgs:
    return TrainArgs(data=str(fm12k), recipe="robust", out=str(run), base_weights=base_weights,
                     limit=4, views=1, head_epochs=1, batch_size=4, **kw)


def _epochs(run) -> list[str]:
    with open(run / "history.csv") as f:
        return [r["epoch"] for r in csv.DictReader(f)]


def test_damaged_files_are_named_and_the_last_good_state_taken(tmp_path, fm12k, base_weights, capsys):
    run = tmp_path / "run"
    train(_tiny(run, fm12k, base_weights, epochs=2))
    moved = tmp_path / "moved"  # a run folder moved elsewhere resumes too
    run.rename(moved)
    (moved / "state.json").write_text('{"epoch": "2", "best": null}')
    (moved / "args.json").write_text('{"data": ')
    (moved / "cache" / "val_y.npy").write_bytes(b"")
    (moved / "history.csv").unlink()
    capsys.readouterr()
    train(_tiny(moved, fm12k, base_weights, epochs=3))
    out, err = capsys.readouterr()
    assert "resuming after epoch 2" in out
    for name in ("state.json", "args.json", "val_y.npy"):
        assert f"{name} is damaged" in err, err
    assert _epochs(moved) == ["1", "2", "3"]  # the whole history, not only the resumed epochs
    assert json.loads((moved / "args.json").read_text())["out"] == str(moved)
    assert json.loads((moved / "state.json").read_text())["epoch"] == 3

    (moved / "last.ckpt.npz").write_bytes((moved / "last.ckpt.npz").read_bytes()[:5000])
    train(_tiny(moved, fm12k, base_weights, epochs=4))
    out, err = capsys.readouterr()
    assert "last.ckpt.npz is damaged" in err and "after epoch 2" in err, err
    assert "resuming after epoch 2" in out
    assert _epochs(moved) == ["1", "2", "3", "4"]


def test_killed_training_resumes_and_ends_where_it_would_have(tmp_path, fm12k, base_weights):
    """kill -9 at random moments (while features, checkpoints or records are written as much as
    between), rerunning the same command after each: every rerun resumes, loses at most the epoch
    that was running, and the run ends with the figures of a run never interrupted."""
    import os
    import random
    import re
    import signal
    import subprocess
    import sys
    import time

    from conftest import ROOT
    from maskdash.train.run import Run

    def start(out, log):
        return subprocess.Popen(
            [sys.executable, "-m", "maskdash", "train", "--data", str(fm12k), "--base-weights", base_weights,
             "--limit", "4", "--views", "1", "--head-epochs", "1", "--batch-size", "4", "--epochs", "5",
             "--out", str(out)], cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"})  # the log shows each line as it is printed

    def in_epochs(proc, log_path) -> bool:
        """Wait until the process has started its epochs (False if it ended first)."""
        while proc.poll() is None:
            if re.search(r"^(epoch \d+/|resuming after)", log_path.read_text(), re.M):
                return True
            time.sleep(0.05)
        return False

    t0 = time.time()
    with open(tmp_path / "reference.log", "w") as log:
        assert start(tmp_path / "reference", log).wait(timeout=600) == 0
    duration = time.time() - t0
    with open(tmp_path / "reference" / "history.csv") as f:
        final = len(list(csv.DictReader(f)))  # 5, or fewer where early stopping ends the run
    assert final >= 3

    out, rng = tmp_path / "killed", random.Random(7)
    kills = resumes = saved = 0
    for attempt in range(4):
        log_path = tmp_path / f"attempt{attempt}.log"
        with open(log_path, "w") as log:
            proc = start(out, log)
            # the first kill may come at any moment (start-up, features); the others within the
            # epochs, where the checkpoints are written
            if attempt == 0:
                wait = rng.uniform(1.0, duration)
            else:
                wait = rng.uniform(0.0, 10.0) if in_epochs(proc, log_path) else 0.0
            try:
                proc.wait(timeout=wait)
            except subprocess.TimeoutExpired:
                proc.send_signal(signal.SIGKILL)
                proc.wait()
                kills += 1
        text = log_path.read_text()
        assert proc.returncode in (0, -signal.SIGKILL), text
        if saved:  # a checkpoint was there: this run started from it (or, at the last epoch, saw it done)
            ended = saved == final and f"finished after epoch {saved}" in text
            assert ended or f"resuming after epoch {saved}" in text, text
            resumes += 1
        if proc.returncode == 0:
            break
        ckpt = Run(out).load_checkpoint()
        saved = ckpt.state["epoch"] if ckpt else 0
        printed = max([int(e) for e in re.findall(r"^epoch (\d+)/", text, re.M)], default=0)
        print(f"attempt {attempt + 1}: killed with epoch {printed} printed, epoch {saved} checkpointed")
        assert saved >= printed - 1, text  # at most the running epoch lost
    else:
        with open(tmp_path / "last.log", "w") as log:
            assert start(out, log).wait(timeout=600) == 0
        last = (tmp_path / "last.log").read_text()
        assert f"resuming after epoch {saved}" in last or (saved == final and f"finished after epoch {saved}" in last)
        resumes += 1

    with open(tmp_path / "reference" / "history.csv") as f:
        reference = list(csv.DictReader(f))
    with open(out / "history.csv") as f:
        killed = list(csv.DictReader(f))
    assert [r["epoch"] for r in killed] == [r["epoch"] for r in reference] == [str(e) for e in range(1, final + 1)]
    diffs = [abs(float(a[k]) - float(b[k])) for a, b in zip(reference, killed)
             for k in ("loss", "accuracy", "val_loss", "val_accuracy", "lr", "selection_loss")]
    print(f"kill -9: {kills} of {attempt + 1} attempts landed, {resumes} resumes, "
          f"largest difference from the uninterrupted run {max(diffs):.2e}")
    assert kills >= 1 and resumes >= 1
    assert max(diffs) < 1e-4


def test_the_seed_model_carries_the_imagenet_base(base_weights, monkeypatch, tmp_path):
    """Without shared/ or the internet (a leased GPU machine) the base comes from the shipped seed
    model: the same numbers as the ImageNet file, since the seed recipe never trains its base."""
    from maskdash import settings
    from maskdash.model.network import imagenet_base

    monkeypatch.delenv("MASKDASH_BASE_WEIGHTS", raising=False)
    monkeypatch.setenv("MASKDASH_SHARED", str(tmp_path))  # no weights/ there
    seed = settings.base_weights()
    assert seed == str(settings.shipped_model_path("seed"))
    got, ref = imagenet_base(seed), imagenet_base(base_weights)
    assert got.name == ref.name == "mobilenetv2_1.00_224"
    pairs = list(zip(got.get_weights(), ref.get_weights()))
    assert len(pairs) == 260 and all(np.array_equal(a, b) for a, b in pairs)


def test_distilled_views_learn_the_init_models_answers_with_dim_twins(tmp_path, fm12k, shipped_model):
    """--distill: each clean view has a dim-webcam twin, and both carry the init model's own
    probabilities on the clean view as their target; without --init it is refused."""
    import pytest

    from maskdash.model.network import load_model, split_at
    from maskdash.train.config import resolve
    from maskdash.train.feeds import CachedFeed
    from maskdash.train.run import Run

    init = str(shipped_model.with_suffix(".keras"))
    with pytest.raises(ValueError, match="--init"):
        resolve(TrainArgs(data=str(fm12k), distill=True))
    args = resolve(TrainArgs(data=str(fm12k), recipe="robust", out=str(tmp_path / "d"), init=init, classes=3,
                             augment="online", limit=4, views=1, epochs=1, batch_size=8, distill=True))
    model = load_model(init)
    feed = CachedFeed(args, Run(args.out))
    top = feed.prepare(model)
    n = len(feed.y) // 2  # clean views first, then their twins
    assert n == 8 and feed.contents["dim_twins"]
    assert np.array_equal(feed.y_1h[:n], feed.y_1h[n:])  # a twin learns its clean view's target
    teacher = np.asarray(top.predict_on_batch(np.asarray(feed.x[:n], np.float32)))
    assert np.allclose(feed.y_1h[:n], teacher, atol=2e-3)  # ... the model's own answer, soft
    assert not np.allclose(feed.y_1h[:n].max(axis=1), 1.0)
    assert np.abs(np.asarray(feed.x[:n], np.float32) - np.asarray(feed.x[n:], np.float32)).mean() > 0.05
    # read back from the cache: the same targets
    again = CachedFeed(args, Run(args.out))
    again.prepare(load_model(init))
    assert np.allclose(again.y_1h, feed.y_1h)
    # twins that learn their own labels: the clean views keep the teacher's answers
    args.twin_targets = "label"
    lwf = CachedFeed(args, Run(args.out))
    lwf.prepare(load_model(init))
    assert np.allclose(lwf.y_1h[:n], feed.y_1h[:n])
    assert np.array_equal(lwf.y_1h[n:], np.eye(3, dtype=np.float32)[lwf.y[n:]])
