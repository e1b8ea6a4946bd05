"""CenterFace's second opinion on the photo detector's small boxes, on real dev photos: it sees the
labelled faces, drops a box over something that is no face, leaves the boxes it cannot judge alone,
and the photo detector works without it when its file is missing or damaged."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from maskdash import settings
from maskdash.data import datasets
from maskdash.imaging import load_rgb
from maskdash.inference import centerface
from maskdash.inference.results import Face
from maskdash.inference.tracking import iou_matrix


@pytest.fixture(scope="module")
def net():
    return centerface.CenterFace()


@pytest.fixture(scope="module")
def photos(dev_scenes):
    """The first 12 holdout photos with a labelled face of 16–48 px (the sizes the check judges)."""
    scenes = [s for s in datasets.list_scenes(dev_scenes)[0] if datasets.scene_fold(s.image_path) == "holdout"]
    chosen = [s for s in scenes if any(16 <= b.height < 48 for b in s.boxes)][:12]
    return [(load_rgb(s.image_path), [(b.x1, b.y1, b.x2, b.y2) for b in s.boxes if 16 <= b.height < 48])
            for s in chosen]


def test_the_shipped_file_is_the_one_recorded():
    path = settings.centerface_path()
    sums = dict(line.split()[::-1] for line in (settings.MODELS_DIR / "SHA256SUMS").read_text().splitlines())
    assert sums["detectors/centerface.onnx"] == hashlib.sha256(path.read_bytes()).hexdigest()


def test_centerface_sees_most_labelled_faces(net, photos):
    seen = total = 0
    for rgb, boxes in photos:
        found = net.boxes(rgb, centerface.CenterFace.scale_for(rgb.shape[1], rgb.shape[0]))
        assert found.shape[1] == 5 and np.all(found[:, 2] > found[:, 0]) and np.all(found[:, 3] > found[:, 1])
        if len(found):
            seen += int((iou_matrix(boxes, [tuple(b[:4]) for b in found]).max(1) >= centerface.CHECK_IOU).sum())
        total += len(boxes)
    assert total >= 30 and seen / total >= 0.9


def test_the_check_keeps_faces_and_drops_a_box_over_no_face(net, photos):
    check = centerface.SecondOpinion(net)
    kept_faces = total = 0
    for rgb, boxes in photos:
        rgb = rgb.copy()
        h, w = rgb.shape[:2]
        # a flat patch in a corner with no labelled face: nothing there is a face
        rgb[h - 40:h - 10, 10:40] = (120, 130, 140)
        fake = Face(box=(10.0, h - 40.0, 40.0, h - 10.0), det_score=0.9)
        faces = [Face(box=b, det_score=0.9) for b in boxes] + [fake]
        kept = check.keep(rgb, faces)
        assert fake not in kept
        kept_faces += len(kept)
        total += len(boxes)
    assert kept_faces / total >= 0.9


def test_boxes_it_cannot_judge_keep_the_detectors_word(net):
    check = centerface.SecondOpinion(net)
    flat = np.full((300, 400, 3), 128, np.uint8)
    large = Face(box=(100.0, 100.0, 150.0, 160.0), det_score=0.9)  # 60 px: at or above 48, not checked
    assert check.keep(flat, [large]) == [large]
    big = np.full((3000, 4000, 3), 128, np.uint8)  # shrunk to CenterFace's budget: a 20 px box is 3.5 px there
    tiny = Face(box=(100.0, 100.0, 120.0, 120.0), det_score=0.9)
    assert check.keep(big, [tiny]) == [tiny]
    small = Face(box=(100.0, 100.0, 130.0, 130.0), det_score=0.9)  # 30 px on a 400 px photo: judged, no face
    assert check.keep(flat, [small]) == []


def test_the_photo_detector_works_without_centerface(tmp_path, monkeypatch, photos):
    from maskdash.inference.detection import make_detector

    rgb = photos[0][0]
    with_check = make_detector("yunet-facehead")
    assert with_check.check is not None
    for content in (None, b"not an onnx file"):
        path = tmp_path / "centerface.onnx"
        if content is not None:
            path.write_bytes(content)
        monkeypatch.setenv("MASKDASH_CENTERFACE", str(path))
        detector = make_detector("yunet-facehead")
        assert detector.check is None
        found = detector.detect(rgb)
        assert len(found) >= len(with_check.detect(rgb)) >= 1
