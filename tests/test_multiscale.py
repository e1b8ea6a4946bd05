"""Small faces in crowds: the multi-scale detector, the whole-pipeline scene evaluation and the
photo benchmark."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from maskdash import settings
from maskdash.data import datasets
from maskdash.evaluation import scenes as scene_eval
from maskdash.inference import detection, multiscale
from maskdash.inference.tracking import iou_matrix
from tests.conftest import need

CROWD = "maksssksksss539"  # a train-fold street photo: 41 labelled faces, most 9–16 px tall


@pytest.fixture(scope="module")
def yunet_pair():
    need((settings.detector_models_dir() / detection.YUNET_FILE).is_file(), "YuNet model file not present")
    return detection.make_detector("yunet"), detection.make_detector("yunet-multiscale")


@pytest.fixture(scope="module")
def crowd(dev_scenes):
    scenes, _ = datasets.list_scenes(dev_scenes)
    scene = next(s for s in scenes if s.image_path.stem == CROWD)
    from maskdash.imaging import load_rgb

    return scene, load_rgb(scene.image_path)


def test_plan_follows_the_photo_size():
    # A 400 px dev photo is enlarged as far as allowed; one tile per 640 px of the enlarged photo.
    (p,) = multiscale.plan(400, 300, 400)
    assert p.scale == pytest.approx(multiscale.MAX_UPSCALE)
    # A 4000 px photo: the whole-photo pass sees it at 1280 px; the finer pass stays within the budget.
    (big,) = multiscale.plan(4000, 3000, 1280)
    assert 1280 / 4000 * multiscale.MIN_GAIN <= big.scale < 1
    assert 4000 * 3000 * big.scale**2 <= multiscale.PIXEL_BUDGET * 1.001
    assert len(big.tiles) > len(p.tiles)
    # Nothing finer to do when the budget is no finer than the whole-photo pass.
    assert multiscale.plan(4000, 3000, 4000, pixel_budget=4_000_000) == []
    for w, h, base in ((400, 300, 400), (4000, 3000, 1280), (1280, 720, 1280), (300, 2000, 1280)):
        for q in multiscale.plan(w, h, base):
            cover = np.zeros((h, w), bool)
            for x1, y1, x2, y2 in q.tiles:
                assert 0 <= x1 < x2 <= w and 0 <= y1 < y2 <= h
                # Tiles are the base detector's input size (or the whole side, if smaller).
                assert round((x2 - x1) * q.scale) <= multiscale.TILE + 1
                cover[y1:y2, x1:x2] = True
            assert cover.all()


def test_multiscale_finds_more_small_faces_without_duplicates(yunet_pair, crowd):
    single, multi = yunet_pair
    scene, rgb = crowd
    gt = [(b.x1, b.y1, b.x2, b.y2) for b in scene.boxes]
    found = {}
    for det in (single, multi):
        dets = det.detect(rgb)
        found[det.name] = len(scene_eval.match(gt, [d.box for d in dets], 0.4))
        boxes = [d.box for d in dets]
        h, w = rgb.shape[:2]
        assert all(0 <= x1 < x2 <= w and 0 <= y1 < y2 <= h for x1, y1, x2, y2 in boxes)
        if det is multi:
            ious = np.asarray(iou_matrix(boxes, boxes), float)
            np.fill_diagonal(ious, 0)
            assert ious.max() <= multiscale.MERGE_IOU  # merged across tiles and scales
            # No labelled face is claimed by two detections.
            assert (np.asarray(iou_matrix(gt, boxes), float) >= 0.4).sum(axis=1).max() <= 1
    assert found["yunet-multiscale"] >= found["yunet"] + 8, found


def test_scene_evaluation_counts_add_up(yunet_pair, dev_scenes, shipped_classifier):
    _, multi = yunet_pair
    scenes, _ = datasets.list_scenes(dev_scenes)
    chosen = [s for s in scenes if s.image_path.stem in (CROWD, "maksssksksss1", "maksssksksss10")]
    assert len(chosen) == 3
    seen_fp = []
    doc = scene_eval.evaluate_pipeline(multi, shipped_classifier, chosen, progress=False,
                                       on_false_positive=lambda s, rgb, d: seen_fp.append(d))
    n = sum(len(s.boxes) for s in chosen)
    assert doc["images"] == 3 and doc["all"]["n"] == n
    assert sum(c["n"] for c in doc["per_class"].values()) == n
    assert sum(r["n"] for r in doc["by_height"]) == n
    for r in doc["by_height"]:
        assert sum(c["n"] for c in r["per_class"].values()) == r["n"]
    for s in (doc["all"], doc["two_class"], doc["faces_32px_plus"], *doc["per_class"].values()):
        assert 0 <= s["right"] <= s["found"] <= s["n"]
    assert doc["two_class"]["n"] == doc["per_class"]["with_mask"]["n"] + doc["per_class"]["without_mask"]["n"]
    assert doc["faces_32px_plus"]["n"] == sum(b.height >= 32 for s in chosen for b in s.boxes)
    assert doc["false_positives"] == len(seen_fp)
    assert doc["false_positives_per_image"] == pytest.approx(len(seen_fp) / 3)
    assert doc["all"]["right_share"] > 0.5  # a crowd photo and two ordinary ones: most faces found
    assert "found and labelled" in scene_eval.format_report(doc)
    # Detection only: found, no labels.
    det_only = scene_eval.evaluate_pipeline(multi, None, chosen, progress=False)
    assert det_only["all"]["found"] == doc["all"]["found"] and "right" not in det_only["all"]


def test_right_label_rule():
    assert scene_eval.right_label("with_mask", "with_mask")
    assert not scene_eval.right_label("without_mask", "with_mask")
    assert scene_eval.right_label("mask_incorrect", "without_mask")
    assert not scene_eval.right_label("mask_incorrect", "with_mask")


def test_bench_photos_json_has_every_stage(yunet_pair, dev_scenes, capsys):
    from maskdash import cli

    rc = cli.main(["bench", "photos", "--json", "--sample", "1", "--repeats", "1", "--detector", "yunet"])
    assert rc == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["detector"] == "yunet" and set(doc["groups"]) == {"dev_holdout", "1280px", "4000px"}
    for name, g in doc["groups"].items():
        assert set(g["median_s"]) == {"decode", "detect", "crop", "classify", "draw", "total"}
        assert all(v >= 0 and math.isfinite(v) for v in g["median_s"].values())
        parts = sum(v for k, v in g["median_s"].items() if k != "total")
        assert g["median_s"]["total"] == pytest.approx(parts, rel=0.05, abs=1e-3)
    assert max(doc["groups"]["4000px"]["size"]) == 4000 and max(doc["groups"]["1280px"]["size"]) == 1280


# Train-fold photos where YuNet's whole-photo pass scores a labelled masked face ≥ 32 px tall
# below the threshold and the second look confirms it (found with the shipped settings).
SECOND_LOOK = {"maksssksksss20": 1, "maksssksksss346": 2}


def test_second_look_finds_unsure_large_faces_without_strays(yunet_pair, dev_scenes):
    _, multi = yunet_pair
    assert multi.relook_detector is not None  # the photo detector takes a second look
    scenes, _ = datasets.list_scenes(dev_scenes)
    from maskdash.imaging import load_rgb

    for stem, gained in SECOND_LOOK.items():
        scene = next(s for s in scenes if s.image_path.stem == stem)
        assert datasets.scene_fold(scene.image_path) == "train"  # chosen on train, never on holdout
        rgb = load_rgb(scene.image_path)
        gt = [(b.x1, b.y1, b.x2, b.y2) for b in scene.boxes]
        with_look = multi.detect(rgb)
        plain = multiscale.MultiScaleDetector(multi.base, multi.name, tile_detector=multi.tile_detector)
        without = plain.detect(rgb)
        large = lambda dets: {i for i, _ in scene_eval.match(gt, [d.box for d in dets], 0.4)  # noqa: E731
                              if scene.boxes[i].height >= 32}
        assert len(large(with_look) - large(without)) == gained, stem
        assert large(without) <= large(with_look)
        # Every box the second look adds sits on a labelled face.
        added = len(with_look) - len(without)
        assert added == gained, stem
        # Boxes kept on a second look carry its score: at or above the threshold, best first.
        assert all(d.det_score >= multi.default_threshold for d in with_look)
        assert [d.det_score for d in with_look] == sorted((d.det_score for d in with_look), reverse=True)


def test_second_look_geometry(yunet_pair, fm12k):
    """`relook` finds a clear face wherever its box lies (photo corner: the square is cut by the
    photo's edge) and at any size, and finds nothing on a blank area."""
    from maskdash.data.datasets import list_split
    from maskdash.imaging import load_rgb, resize

    _, multi = yunet_pair
    face = load_rgb(next(s for s in list_split(fm12k, "Test") if s.label == 1).path)  # unmasked
    for x, y, side, w, h in ((0, 0, 60, 400, 300), (330, 230, 70, 400, 300), (100, 50, 400, 1600, 1200)):
        frame = np.full((h, w, 3), 128, np.uint8)
        frame[y:y + side, x:x + side] = resize(face, side, side)
        (d,) = [d for d in multi.base.detect(frame, 0.3)]
        score = multi.relook(frame, d.box, multi.default_threshold)
        assert score is not None and multi.default_threshold <= score <= 1.0, (x, y, side)
        # The same box moved onto the grey background: nothing there.
        bx1, by1, bx2, by2 = d.box
        shift = (w - 1 - bx2) if x + side / 2 < w / 2 else -bx1  # to the far side of the frame
        moved = (bx1 + shift, by1, bx2 + shift, by2)
        assert moved[0] >= 0 and moved[2] < w and (moved[2] < x or moved[0] > x + side)
        assert multi.relook(frame, moved, 0.3) is None, (x, y, side)
