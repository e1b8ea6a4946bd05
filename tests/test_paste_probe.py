"""The pasted-face probe: large real faces of the extra faces' val fold pasted into the face head's
val photos, so that detectors can be compared on large faces with validation data only."""

from __future__ import annotations

import json

import numpy as np

from maskdash.cli import main
from maskdash.data import datasets
from maskdash.evaluation.paste_probe import PROBE_FACE_PX, iou, probe_photos, run_probe
from maskdash.imaging import load_rgb
from maskdash.inference.detection import make_detector
from maskdash.train.facehead import sub_fold


def test_the_probe_pastes_val_fold_faces_on_val_photos_where_no_face_is(dev_scenes, extra_faces):
    items = list(probe_photos(dev_scenes, extra_faces, limit=40))
    again = list(probe_photos(dev_scenes, extra_faces, limit=40))
    assert len(items) >= 30 and [p.box for p in items] == [p.box for p in again]  # fixed by the seed
    for p in items:
        assert p.face.fold == "val" and p.face_px in PROBE_FACE_PX
        assert datasets.scene_fold(p.photo.image_path) == "train" and sub_fold(p.photo.image_path) == "val"
        h, w = p.rgb.shape[:2]
        x1, y1, x2, y2 = p.box
        assert 0 <= x1 < x2 <= w and 0 <= y1 < y2 <= h and abs((y2 - y1) - p.face_px) <= 1.5
        assert all(iou(p.box, (b.x1, b.y1, b.x2, b.y2)) == 0 for b in p.photo.boxes)  # on no labelled face
        diff = np.abs(load_rgb(p.photo.image_path).astype(int) - p.rgb).sum(axis=2)
        assert diff[int(y1) + 2:int(y2) - 2, int(x1) + 2:int(x2) - 2].mean() > 5  # the face is there
        pad = int(0.7 * (y2 - y1))  # the crop's margin around the face box, and its softened edge
        outside = np.ones_like(diff, bool)
        outside[max(0, int(y1) - pad):int(y2) + pad, max(0, int(x1) - pad):int(x2) + pad] = False
        assert diff[outside].max() == 0  # and nothing else changed


def test_the_face_head_finds_more_pasted_faces_than_yunet_alone(dev_scenes, extra_faces, tmp_path, capsys):
    docs = {name: run_probe(make_detector(name), dev_scenes, extra_faces, limit=80, progress=False)
            for name in ("yunet", "yunet-facehead")}
    for doc in docs.values():
        assert doc["all"]["n"] >= 60 and sum(s["n"] for s in doc["per_class"].values()) == doc["all"]["n"]
        assert set(doc["by_height"]) == {str(px) for px in PROBE_FACE_PX}
    assert docs["yunet-facehead"]["all"]["found"] > docs["yunet"]["all"]["found"]
    out = tmp_path / "probe.json"
    assert main(["scenes", "--pasted", "--detector", "yunet", "--limit", "10", "--json", str(out)]) == 0
    assert "pasted val-fold faces found" in capsys.readouterr().out
    assert json.loads(out.read_text())["detector"] == "yunet"


def test_iou_of_boxes():
    assert iou((0, 0, 10, 10), (0, 0, 10, 10)) == 1.0
    assert iou((0, 0, 10, 10), (20, 20, 30, 30)) == 0.0
    assert abs(iou((0, 0, 10, 10), (5, 0, 15, 10)) - 1 / 3) < 1e-9
