"""The folds of the real data a three-class model learns from: no photo, and no identical crop,
of a holdout ever reaches training or the checkpoint choice."""

from __future__ import annotations

import csv
import hashlib
from collections import Counter

from maskdash.data import datasets


def test_extra_faces_folds_are_disjoint_by_photo_and_by_content(extra_faces):
    faces = datasets.list_extra_faces(extra_faces)
    with open(extra_faces / "index.csv", newline="") as f:
        rows = {str(extra_faces / r["path"]): r for r in csv.DictReader(f)}
    photos: dict[str, set] = {fold: set() for fold in datasets.EXTRA_FOLDS}
    contents: dict[str, set] = {fold: set() for fold in datasets.EXTRA_FOLDS}
    for face in faces:
        row = rows[str(face.path)]
        photos[face.fold].add((row["source"], row["orig_path"]))
        contents[face.fold].add(hashlib.sha256(face.path.read_bytes()).hexdigest())
    for a, b in (("train", "val"), ("train", "holdout"), ("val", "holdout")):
        assert not photos[a] & photos[b], f"a photo in both {a} and {b}"
        assert not contents[a] & contents[b], f"an identical crop in both {a} and {b}"
    # every class in every fold, in roughly the planned shares (60/20/20 by photo)
    counts = Counter((f.fold, f.label) for f in faces)
    for label in ("with_mask", "without_mask", "mask_incorrect"):
        n = sum(counts[(fold, label)] for fold in datasets.EXTRA_FOLDS)
        assert 0.45 < counts[("train", label)] / n < 0.75, (label, counts)
        assert counts[("holdout", label)] >= 0.1 * n, (label, counts)


def test_the_fold_depends_on_the_photo_only():
    assert datasets.extra_fold("ilc2021", "JPEGImages/a.jpg") == datasets.extra_fold("ilc2021", "JPEGImages/a.jpg")
    folds = Counter(datasets.extra_fold("s", f"p{i}.jpg") for i in range(2000))
    assert 0.55 < folds["train"] / 2000 < 0.65 and 0.15 < folds["holdout"] / 2000 < 0.25, folds


def test_the_dev_scenes_holdout_is_never_learnt(dev_scenes):
    """The trainer reads dev scenes through scene_fold == 'train' only; the two folds share no image."""
    scenes, _ = datasets.list_scenes(dev_scenes)
    folds = Counter(datasets.scene_fold(s.image_path) for s in scenes)
    assert folds["train"] and folds["holdout"]
    train = {s.image_path.name for s in scenes if datasets.scene_fold(s.image_path) == "train"}
    hold = {s.image_path.name for s in scenes if datasets.scene_fold(s.image_path) == "holdout"}
    assert not train & hold
