"""Reading data folders: class-name matching, broken files skipped with reasons, VOC scenes."""

import io
import shutil

import numpy as np
from PIL import Image

from maskdash.data import datasets



from maskdash import labels
def _img(path, color=(120, 80, 60), size=(40, 48), fmt=None):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, color).save(path, format=fmt)


def test_class_names_case_insensitive():
    for name in ("WithMask", "with_mask", "With-Mask", "WITH MASK"):
        assert labels.normalize_class(name) == "with_mask"
    for name in ("WithoutMask", "without_mask", "no_mask"):
        assert labels.normalize_class(name) == "without_mask"
    assert labels.normalize_class("mask_weared_incorrect") == labels.INCORRECT
    assert labels.normalize_class("cats") is None


def test_split_listing_and_broken_files(tmp_path, fm12k):
    root = tmp_path / "ds"
    real = sorted((fm12k / "Test" / "WithMask").iterdir())[:2]
    for i, src in enumerate(real):
        dst = root / "test" / "with_mask" / f"real{i}{src.suffix}"
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(src, dst)
    _img(root / "test" / "WITHOUTMASK" / "a.png")
    _img(root / "test" / "WITHOUTMASK" / "b.webp", fmt="WEBP")
    _img(root / "test" / "WITHOUTMASK" / "c.bmp")
    (root / "test" / "WITHOUTMASK" / "empty.jpg").write_bytes(b"")
    (root / "test" / "WITHOUTMASK" / "junk.png").write_bytes(b"not an image")
    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(buf, format="JPEG")
    (root / "test" / "WITHOUTMASK" / "cut.jpg").write_bytes(buf.getvalue()[:300])
    (root / "test" / "WITHOUTMASK" / "notes.txt").write_text("ignored: not an image extension")
    (root / "test" / "other").mkdir()

    samples = datasets.list_split(root, "Test")  # split matched case-insensitively too
    assert len(samples) == 8
    loaded = datasets.load_samples(samples, progress=False)
    assert loaded.images.shape == (5, 224, 224, 3)
    assert sorted(loaded.labels.tolist()) == [0, 0, 1, 1, 1]
    reasons = {p.split("/")[-1]: r for p, r in ((s.path, s.reason) for s in loaded.skipped)}
    assert set(reasons) == {"empty.jpg", "junk.png", "cut.jpg"}
    assert "empty" in reasons["empty.jpg"] and "not an image" in reasons["junk.png"]


def test_voc_scenes(tmp_path):
    root = tmp_path / "scenes"
    _img(root / "images" / "s1.jpg", size=(200, 100))
    _img(root / "images" / "s2.png", size=(50, 50))
    (root / "annotations").mkdir()
    (root / "annotations" / "s1.xml").write_text(
        "<annotation><object><name>with_mask</name><bndbox><xmin>10</xmin><ymin>10</ymin><xmax>40</xmax>"
        "<ymax>50</ymax></bndbox></object><object><name>mask_weared_incorrect</name><bndbox><xmin>60</xmin>"
        "<ymin>5</ymin><xmax>90</xmax><ymax>45</ymax></bndbox></object></annotation>"
    )
    (root / "annotations" / "s2.xml").write_text("<annotation><object>")  # broken XML
    (root / "annotations" / "s3.xml").write_text("<annotation/>")  # no image
    scenes, skipped = datasets.list_scenes(root)
    assert [s.image_path.name for s in scenes] == ["s1.jpg"]
    assert [b.label for b in scenes[0].boxes] == ["with_mask", labels.INCORRECT]
    assert len(skipped) == 2
    faces = datasets.load_scene_faces(scenes, progress=False)
    assert faces.images.shape == (2, 224, 224, 3)


def test_scene_fold_is_stable_and_mixed(dev_scenes):
    scenes, _ = datasets.list_scenes(dev_scenes)
    folds = [datasets.scene_fold(s.image_path) for s in scenes]
    assert folds == [datasets.scene_fold(s.image_path) for s in scenes]
    share = folds.count("holdout") / len(folds)
    assert 0.3 < share < 0.5
