"""The pack that carries the training set to the GPU machine, the occluder augmentation, and a
tiny real run of the online trainer."""

import csv

import numpy as np

from maskdash.data import augment

from maskdash.data import datasets

from maskdash import labels
from maskdash.model.runtime import load_classifier
from maskdash.data.pack import FOLDS, build_pack, load_pack, scene_val_fold
from maskdash.train.config import TrainArgs
from maskdash.train.loop import train
from maskdash.train.run import HISTORY_COLUMNS


def test_pack_keeps_holdout_and_test_out(tmp_path, fm12k, dev_scenes):
    info = build_pack(fm12k, dev_scenes, tmp_path / "p.npz", limit=8, n_backgrounds=10)
    assert info["train"] > 0 and info["val"] == 16 and info["backgrounds"] == 10
    pack = load_pack(tmp_path / "p.npz")
    assert pack.images.shape[1:] == (224, 224, 3) and pack.images.dtype == np.uint8
    assert set(np.unique(pack.fold)) <= set(range(len(FOLDS)))
    assert len(pack.images) == info["train"] + info["val"] + info["scene_val"]
    # only train-fold scenes were packed: their face count matches, none from the holdout
    scenes, _ = datasets.list_scenes(dev_scenes)
    train_scenes = [s for s in scenes if datasets.scene_fold(s.image_path) == "train"][:2]
    expected = sum(1 for s in train_scenes for b in s.boxes if b.label in labels.CLASSES)
    assert int(pack.source.sum()) == expected
    sv = sum(1 for s in train_scenes if scene_val_fold(s.image_path) for b in s.boxes if b.label in labels.CLASSES)
    assert info["scene_val"] == sv


def test_scene_val_is_a_fifth_of_the_train_fold(dev_scenes):
    scenes, _ = datasets.list_scenes(dev_scenes)
    train = [s for s in scenes if datasets.scene_fold(s.image_path) == "train"]
    share = np.mean([scene_val_fold(s.image_path) for s in train])
    assert 0.12 < share < 0.28


def test_occluder_augmentation_covers_the_lower_face_only():
    rng = np.random.default_rng(0)
    face = np.full((224, 224, 3), 128, np.uint8)
    bgs = [np.full((60, 60, 3), 20, np.uint8)]
    lower, upper = [], []
    for _ in range(40):
        out = augment.object_over_face(face, rng, bgs)
        changed = np.abs(out.astype(int) - face).sum(axis=2) > 10
        assert changed.any()
        lower.append(changed[150:].mean())
        upper.append(changed[:90].mean())
    assert np.mean(lower) > 0.1 and np.mean(upper) < 0.01
    out = augment.online_augment(face, rng, 1, bgs)
    assert out.shape == face.shape and out.dtype == np.uint8


def test_training_hand_stays_on_the_lower_face_in_the_faces_own_skin(monkeypatch):
    rng = np.random.default_rng(0)
    face = np.zeros((224, 224, 3), np.uint8)
    face[:] = (200, 150, 120)  # a warm skin tone
    face[130:] = (90, 90, 90)  # grey below the cheeks, so the hand's colour must come from them
    lower, upper = [], []
    for _ in range(40):
        out = augment.fingers_over_face(face, rng)
        changed = np.abs(out.astype(int) - face).sum(axis=2) > 10
        lower.append(changed[150:].mean())
        upper.append(changed[:60].mean())
        hand = out[150:][changed[150:]].astype(float)
        if len(hand) > 500:  # red above green above blue, as the cheeks are; not the grey below
            r, g, b = hand.mean(axis=0)
            assert r > g + 15 and g > b + 5
    assert np.mean(lower) > 0.3 and np.mean(upper) < 0.01
    # the online augmentation draws it among the objects over unmasked mouths, never over masks
    calls = []
    real = augment.fingers_over_face
    monkeypatch.setattr(augment, "fingers_over_face", lambda img, rng: calls.append(1) or real(img, rng))
    for i in range(60):
        augment.online_augment(face, np.random.default_rng(i), 0, None, cover_p=1.0, distract_p=0.0)
    assert not calls
    for i in range(60):
        augment.online_augment(face, np.random.default_rng(i), 1, None, cover_p=1.0, distract_p=0.0)
    assert 10 < len(calls) < 35


def test_the_share_of_dim_webcam_views_follows_low_light_p(monkeypatch):
    from maskdash.data import camera
    from maskdash.train.config import resolve
    from maskdash.train.feeds import augment_one

    face = np.full((224, 224, 3), 160, np.uint8)
    calls = []
    real = camera.low_light
    monkeypatch.setattr(camera, "low_light", lambda img, rng, *rest: calls.append(1) or real(img, rng, *rest))

    def share(name: str, p: float | None) -> float:
        calls.clear()
        for i in range(200):
            augment_one(name, face, np.random.default_rng(i), i % 2, None, 0.0, 0.0, p)
        return len(calls) / 200

    assert share("online", 0.0) == 0 and share("online", 1.0) == 1
    assert 0.2 < share("online", 0.3) < 0.4 and 0.2 < share("robust", 0.3) < 0.4
    assert 0.08 < share("online", None) < 0.22  # runs from before the option: the fixed 0.15
    assert share("seed", 1.0) == 0  # the seed recipe stays the original's
    # --low-light-max bounds the light of those views: brighter views come out brighter
    lights = []
    monkeypatch.setattr(camera, "render", lambda img, rng, light, *rest: lights.append(light) or img)
    for top in (0.5, 0.1):
        lights.clear()
        for i in range(100):
            augment_one("online", face, np.random.default_rng(i), 1, None, 0.0, 0.0, 1.0, top)
        assert min(lights) >= camera.DARKEST and max(lights) <= top and max(lights) > 0.8 * top
    # args.json says what the run used: kept for augmentations that draw dim views, blank for seed
    assert resolve(TrainArgs(data="d", recipe="robust", feed="cached", augment="online", low_light_p=0.3)).low_light_p == 0.3
    assert resolve(TrainArgs(data="d", recipe="robust", feed="online", low_light_max=0.2)).low_light_max == 0.2
    assert resolve(TrainArgs(data="d", recipe="seed", feed="cached", low_light_p=0.3)).low_light_p is None


def test_tiny_online_run_writes_a_loadable_model(tmp_path, fm12k, dev_scenes, base_weights):
    build_pack(fm12k, dev_scenes, tmp_path / "p.npz", limit=4, n_backgrounds=5)
    run = tmp_path / "run"
    best = train(TrainArgs(data=str(tmp_path / "p.npz"), feed="online", out=str(run), base_weights=base_weights,
                           epochs=2, head_epochs=1, batch_size=8, workers=2))
    with open(run / "history.csv") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == HISTORY_COLUMNS
    assert [r["stage"] for r in rows] == ["head", "fine_tune"]
    assert float(rows[1]["lr"]) < float(rows[0]["lr"])
    assert all(0 <= float(r["scene_val_balanced_accuracy"]) <= 1 for r in rows)
    assert (run / "skipped.csv").read_text().startswith("path,reason")
    assert "machine" in (run / "training.json").read_text()
    assert best.stat().st_size < 12e6  # weights only: no optimizer state in the checkpoint
    p = load_classifier(best, engine="keras").predict(np.zeros((2, 224, 224, 3), np.uint8))
    assert p.shape == (2,) and np.all((p >= 0) & (p <= 1))


def test_pack_skips_and_lists_broken_files(tmp_path, fm12k):
    import shutil

    root = tmp_path / "fm"
    for split in ("Train", "Validation"):
        for cls in ("WithMask", "WithoutMask"):
            d = root / split / cls
            d.mkdir(parents=True)
            for src in sorted((fm12k / split / cls).iterdir())[:2]:
                shutil.copy(src, d / src.name)
    (root / "Train" / "WithMask" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    (root / "Train" / "WithoutMask" / "empty.png").write_bytes(b"")
    info = build_pack(root, None, tmp_path / "p.npz")
    assert info["train"] == 4 and info["val"] == 4 and info["backgrounds"] == 0
    pack = load_pack(tmp_path / "p.npz")
    assert sorted(p.rsplit("/", 1)[1] for p, _ in pack.skipped) == ["broken.jpg", "empty.png"]
    assert all(reason for _, reason in pack.skipped)


def test_a_three_class_pack_carries_the_extra_faces_and_generated_masks(tmp_path, fm12k, dev_scenes, extra_faces):
    info = build_pack(fm12k, dev_scenes, tmp_path / "p3.npz", limit=6, n_backgrounds=5, classes=3,
                      extra_faces=extra_faces, synth_incorrect=4)
    pack = load_pack(tmp_path / "p3.npz")
    assert pack.classes == 3 and info["classes"] == 3
    incorrect = labels.CLASSES3.index(labels.INCORRECT)
    # extra faces: train fold → train, val fold → extra_val, 6 a class each; their holdout never
    extra = pack.source == 2
    assert int(extra.sum()) == info["extra_faces"] == 2 * 6 * 3
    assert set(np.unique(pack.fold[extra])) == {FOLDS.index("train"), FOLDS.index("extra_val")}
    assert info["extra_val"] == 6 * 3
    for fold_name, f in (("train", "train"), ("val", "extra_val")):
        sel = extra & (pack.fold == FOLDS.index(f))
        assert sorted(np.bincount(pack.labels[sel], minlength=3)) == [6, 6, 6]
    assert len(datasets.list_extra_faces(extra_faces, ("holdout",))) > 0  # there was a holdout to leave out
    # the generated masks below the nose are data-set training faces of the third class
    made = (pack.source == 0) & (pack.labels == incorrect)
    assert int(made.sum()) == 4 and set(np.unique(pack.fold[made])) == {FOLDS.index("train")}
    # the dev scenes' masks worn incorrectly are learnt now, not left out
    scene_incorrect = int(((pack.source == 1) & (pack.labels == incorrect)).sum())
    build_pack(fm12k, dev_scenes, tmp_path / "p2.npz", limit=6, n_backgrounds=5)
    binary = load_pack(tmp_path / "p2.npz")
    assert binary.classes == 2 and int(binary.source.max()) == 1 and int(binary.labels.max()) == 1
    assert int((binary.source == 1).sum()) + scene_incorrect == int((pack.source == 1).sum())


def test_a_pack_of_the_wrong_classes_or_options_is_refused(tmp_path, fm12k):
    build_pack(fm12k, None, tmp_path / "p.npz", limit=2)
    run = tmp_path / "run"
    for args, message in (({"classes": 3}, "holds 2 classes but the run asks for 3"),
                          ({"extra_faces": str(tmp_path)}, "give --extra-faces and --synth-incorrect to")):
        try:
            train(TrainArgs(data=str(tmp_path / "p.npz"), feed="online", out=str(run), epochs=1, **args))
        except ValueError as exc:
            assert message in str(exc)
        else:
            raise AssertionError(f"{args} was accepted")
    try:
        build_pack(fm12k, None, tmp_path / "q.npz", limit=2, synth_incorrect=2)
    except ValueError as exc:
        assert "--classes 3" in str(exc)
    else:
        raise AssertionError("generated mask_incorrect faces were packed into a binary pack")


def test_tiny_three_class_online_run(tmp_path, fm12k, dev_scenes, extra_faces, base_weights):
    build_pack(fm12k, dev_scenes, tmp_path / "p.npz", limit=4, n_backgrounds=5, classes=3,
               extra_faces=extra_faces, synth_incorrect=4)
    run = tmp_path / "run"
    best = train(TrainArgs(data=str(tmp_path / "p.npz"), feed="online", out=str(run), base_weights=base_weights,
                           epochs=1, head_epochs=1, batch_size=8, workers=1, classes=3))
    with open(run / "history.csv") as f:
        rows = list(csv.DictReader(f))
    # the checkpoint rule read the real faces kept from training (scene_val and extra_val)
    assert rows[0]["scene_val_loss"] not in ("", "nan")
    probs = load_classifier(best, engine="keras").probabilities(np.zeros((2, 224, 224, 3), np.uint8))
    assert probs.shape == (2, 3) and np.allclose(probs.sum(axis=1), 1, atol=1e-4)


def test_grey_views_follow_grey_p_and_leave_older_runs_views_alone(fm12k):
    from maskdash.data.augment import grey
    from maskdash.train.config import resolve
    from maskdash.train.feeds import augment_one

    sample = datasets.list_split(fm12k, "Validation")[0]
    face = datasets.load_samples([sample], progress=False).images[0]
    assert not np.array_equal(face[..., 0], face[..., 2])  # a colour photo to begin with

    def is_grey(img: np.ndarray) -> bool:
        return bool((img.max(axis=2) == img.min(axis=2)).all())

    views = {p: [augment_one("online", face, np.random.default_rng(i), 1, None, 0.0, 0.0, 0.0, None, p)
                 for i in range(100)] for p in (None, 0.0, 0.3, 1.0)}
    shares = {p: np.mean([is_grey(v) for v in vs]) for p, vs in views.items()}
    assert shares[1.0] == 1 and 0.15 < shares[0.3] < 0.45 and shares[0.0] < 0.1
    # unset, the random stream is untouched: the views of runs from before the option are the same
    assert all(np.array_equal(a, b) for a, b in zip(views[None], views[0.0]))
    assert np.array_equal(grey(np.stack([face, face]))[1], grey(face))  # one function for one face or many
    assert resolve(TrainArgs(data="d", recipe="seed", feed="cached", grey_p=0.3)).grey_p is None
