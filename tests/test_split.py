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


def test_a_crop_listed_twice_is_one_face_with_both_rows_tags(tmp_path, extra_faces):
    # The real index lists a few crops twice (first tagged, later reviewed as a hard negative);
    # each must count once and keep every tag (else a hand over the mouth drops out of the hands).
    with open(extra_faces / "index.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    paths = Counter(r["path"] for r in rows)
    twice = [p for p, n in paths.items() if n > 1]
    assert twice, "the index no longer lists a crop twice: build the case by hand instead"
    faces = datasets.list_extra_faces(extra_faces)
    assert len({str(f.path) for f in faces}) == len(faces)
    by_path = {str(f.path): f for f in faces}
    for p in twice:
        tags = {t for r in rows if r["path"] == p for t in r["tags"].split(";") if t}
        assert set(by_path[str(extra_faces / p)].tags) == tags, p
    # a file listed under two classes has no label to trust: left out
    fields = list(rows[0].keys())
    with open(tmp_path / "index.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields)
        w.writeheader()
        base = {k: "" for k in fields}
        w.writerow({**base, "path": "a.jpg", "class": "without_mask", "source": "s", "orig_path": "a", "tags": "hand_over_mouth"})
        w.writerow({**base, "path": "a.jpg", "class": "without_mask", "source": "s", "orig_path": "a", "tags": "reviewed_hard_negative"})
        w.writerow({**base, "path": "b.jpg", "class": "with_mask", "source": "s", "orig_path": "b"})
        w.writerow({**base, "path": "b.jpg", "class": "without_mask", "source": "s", "orig_path": "b"})
    listed = datasets.list_extra_faces(tmp_path)
    assert [(f.path.name, f.tags) for f in listed] == [("a.jpg", ("hand_over_mouth", "reviewed_hard_negative"))]
