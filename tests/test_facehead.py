"""The face head: its targets and decoding, the shipped detector joined with YuNet, bad model files,
and the trainer's run folder."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from maskdash import settings
from maskdash.data import datasets
from maskdash.imaging import load_rgb
from maskdash.inference import detection
from maskdash.inference.facehead import FaceHeadDetector, JoinedDetector, _iou, load_facehead
from maskdash.model import facehead as fh
from maskdash.model.runtime import ModelFileError
from maskdash.train import facehead as train_fh
from tests.conftest import need


def _logit(p):
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


def test_targets_decode_back_to_their_boxes():
    # Boxes in photo pixels of a 400×300 photo → head pixels → targets → a perfect output → boxes.
    photo = [(20.0, 30.0, 60.0, 80.0), (200.0, 100.0, 232.5, 141.0), (350.0, 10.0, 398.0, 70.0)]
    canvas, scale = fh.letterbox(np.zeros((300, 400, 3), np.uint8))
    assert canvas.shape == (fh.SIDE, fh.SIDE, 3) and scale == pytest.approx(fh.SIDE / 400)
    t = train_fh.targets([tuple(v * scale for v in b) for b in photo])
    assert t[..., 5].sum() == len(photo) and t[..., 0].max() == 1.0
    out = np.concatenate([_logit(t[..., :1]), t[..., 1:5]], axis=-1)
    boxes, scores = fh.decode(out, scale, 400, 300, 0.5)
    assert len(boxes) == len(photo)
    for b in photo:
        assert max(_iou(b, d) for d in boxes) > 0.97, (b, boxes)
    assert np.all(scores > 0.99)


def test_photo_variants_keep_boxes_on_their_faces():
    # A white square "face" on black: in every variant its box must still cover white pixels.
    rgb = np.zeros((200, 300, 3), np.uint8)
    rgb[50:90, 30:70] = 255
    variants = list(train_fh.photo_variants(rgb, [(30, 50, 70, 90)], 3, np.random.default_rng(0)))
    assert len(variants) == 5
    for canvas, [(x1, y1, x2, y2)] in variants:
        inside = canvas[int(y1) + 3:int(y2) - 3, int(x1) + 3:int(x2) - 3]
        assert inside.size and inside.mean() > 120, (x1, y1, x2, y2)


def test_zoomed_copies_enlarge_the_faces_and_keep_their_boxes_on_them():
    # Faces spread over the photo: a zoomed copy shows some of them, larger, boxes on white pixels.
    rgb = np.zeros((300, 400, 3), np.uint8)
    boxes = [(x, y, x + 20, y + 20) for x in (20, 120, 220, 320) for y in (30, 140, 250)]
    for x1, y1, x2, y2 in boxes:
        rgb[y1:y2, x1:x2] = 255
    plain = next(train_fh.photo_variants(rgb, boxes, 0, None))[1]
    zoomed = list(train_fh.photo_variants(rgb, boxes, 0, np.random.default_rng(1), zoom=4))[2:]
    assert len(zoomed) == 4
    for canvas, kept in zoomed:
        assert 0 < len(kept) < len(boxes)
        for x1, y1, x2, y2 in kept:
            if x2 - x1 > 0.9 * (y2 - y1):  # not cut by the window's edge
                assert y2 - y1 > 1.25 * (plain[0][3] - plain[0][1])  # enlarged
                inside = canvas[int(y1) + 3:int(y2) - 3, int(x1) + 3:int(x2) - 3]
                assert inside.size and inside.mean() > 120, (x1, y1, x2, y2)


def test_pasted_faces_land_inside_the_photo_on_their_boxes_and_cover_no_labelled_face():
    # A grey "face" crop (its face box the middle 1/1.2 of it) pasted into a black 300×200 photo
    # letterboxed onto the canvas beside a labelled face: every pasted box lies on grey pixels,
    # inside the photo, overlapping no other box, and the canvas outside the photo is untouched.
    crop = np.zeros((120, 120, 3), np.uint8)
    crop[10:110, 10:110] = 200
    pool = [train_fh.Donor(Path("grey.png"), crop, (1 / 12, 1 / 12, 11 / 12, 11 / 12))]
    canvas = np.zeros((fh.SIDE, fh.SIDE, 3), np.uint8)
    labelled = [(0.0, 0.0, 90.0, 90.0)]
    canvas[0:90, 0:90] = 255
    rng = np.random.default_rng(3)
    gained = 0
    for _ in range(20):
        out, boxes = train_fh.pasted(canvas, labelled, pool, rng, (300, 200))
        assert boxes[0] == labelled[0] and out[0:90, 0:90].min() == 255
        assert out[200:].max() == 0 and out[:, 300:].max() == 0  # the letterbox's padding
        new = boxes[1:]
        assert len(new) <= train_fh.PASTE_MAX
        gained += len(new)
        for i, (x1, y1, x2, y2) in enumerate(new):
            assert 0 <= x1 < x2 <= 300 and 0 <= y1 < y2 <= 200
            assert train_fh.PASTE_FACE_PX[0] - 1 <= y2 - y1 <= train_fh.PASTE_FACE_PX[1] + 1
            cx, cy = int((x1 + x2) / 2), int((y1 + y2) / 2)
            assert out[cy, cx].mean() > 150  # the face's middle is the crop's, not the photo's
            for other in boxes[:1 + i]:
                assert _iou((x1, y1, x2, y2), other) == 0
    assert gained >= 10


def test_pasted_faces_come_from_the_extra_faces_train_fold_only(extra_faces):
    pool = train_fh.donors(extra_faces)
    train = {f.path for f in datasets.list_extra_faces(extra_faces, ("train",))}
    kept_back = {f.path for f in datasets.list_extra_faces(extra_faces, ("val", "holdout"))}
    used = {d.path for d in pool}
    assert kept_back and used <= train and not used & kept_back
    assert len(used) > 0.95 * len(train)
    for d in pool[:50]:
        x1, y1, x2, y2 = d.box
        assert 0 <= x1 < x2 <= 1 and 0 <= y1 < y2 <= 1
        assert max(x2 - x1, y2 - y1) == pytest.approx(1 / train_fh.PASTE_MARGIN)


def test_the_face_head_learns_from_the_train_fold_only(dev_scenes):
    fit, val = train_fh.split(dev_scenes)
    fit_names, val_names = {s.image_path.name for s in fit}, {s.image_path.name for s in val}
    holdout = {s.image_path.name for s in datasets.list_scenes(dev_scenes)[0]
               if datasets.scene_fold(s.image_path) == "holdout"}
    assert holdout and not (fit_names | val_names) & holdout  # no holdout photo trains or chooses
    assert not fit_names & val_names and 0.15 < len(val) / (len(fit) + len(val)) < 0.35


@pytest.fixture(scope="module")
def joined():
    need((settings.detector_models_dir() / detection.YUNET_FILE).is_file(), "YuNet model file not present")
    assert settings.facehead_model_path().is_file(), "the shipped face head is missing"
    return detection.make_detector("yunet-multiscale"), detection.make_detector("yunet-facehead")


def test_the_face_head_adds_faces_without_duplicates(joined, dev_scenes):
    """On the train fold's 'val' photos (the face head never trained on them) the joined detector
    finds more labelled faces than YuNet multi-scale alone, and no two of its boxes are one face;
    it drops no YuNet face but those the CenterFace check drops."""
    from maskdash.evaluation.scenes import match
    from maskdash.imaging import load_rgb

    base, both = joined
    scenes = [s for s in datasets.list_scenes(dev_scenes)[0]
              if datasets.scene_fold(s.image_path) == "train" and train_fh.sub_fold(s.image_path) == "val"]
    found = {"base": 0, "both": 0}
    for scene in scenes[:40]:
        rgb = load_rgb(scene.image_path)
        gt = [(b.x1, b.y1, b.x2, b.y2) for b in scene.boxes]
        dets = {"base": base.detect(rgb), "both": both.detect(rgb)}
        for k, ds in dets.items():
            found[k] += len(match(gt, [d.box for d in ds], 0.4))
        boxes = [d.box for d in dets["both"]]
        assert all(_iou(a, b) < 0.3 for i, a in enumerate(boxes) for b in boxes[i + 1:])
        # YuNet's faces are all kept, but for the small ones CenterFace's second opinion drops
        missing = [d for d in dets["base"] if d.box not in {e.box for e in dets["both"]}]
        assert both.check.keep(rgb, missing) == [] if missing else True
    assert found["both"] > found["base"], found


def test_the_face_head_finds_a_masked_face(dev_scenes):
    """The face head alone, on a train-fold photo: a masked face of 32 px or more found (IoU ≥ 0.4)."""
    from maskdash.evaluation.scenes import match
    from maskdash.imaging import load_rgb

    head = FaceHeadDetector()
    hits = 0
    for scene in datasets.list_scenes(dev_scenes)[0][:30]:
        big = [(b.x1, b.y1, b.x2, b.y2) for b in scene.boxes if b.label == "with_mask" and b.height >= 32]
        if big:
            hits += len(match(big, [d.box for d in head.detect(load_rgb(scene.image_path))], 0.4))
    assert hits >= 5, hits


@pytest.mark.parametrize("content, words", [
    (b"", "not a TFLite flatbuffer"),
    (b"\x00" * 64, "not a TFLite flatbuffer"),
    ("classifier", "face head takes"),
])
def test_bad_face_head_files_are_named(tmp_path, content, words):
    path = tmp_path / "bad.tflite"
    if content == "classifier":  # a real TFLite model of the wrong kind: the mask classifier
        path.write_bytes((settings.MODELS_DIR / "robust" / "model.tflite").read_bytes())
    else:
        path.write_bytes(content)
    with pytest.raises(ModelFileError) as err:
        load_facehead(path)
    assert "bad.tflite" in str(err.value) and words in str(err.value)


def test_a_bad_face_head_falls_back_to_yunet_multiscale(tmp_path, monkeypatch):
    need((settings.detector_models_dir() / detection.YUNET_FILE).is_file(), "YuNet model file not present")
    bad = tmp_path / "facehead.tflite"
    bad.write_bytes(b"truncated")
    monkeypatch.setenv("MASKDASH_FACEHEAD", str(bad))
    det, message = detection.make_detector_or_fallback("yunet-facehead")
    assert det.name == "yunet-multiscale"
    assert "facehead.tflite" in message and "face head" in message


def test_joined_detector_keeps_small_head_faces_out():
    class Fixed:
        default_threshold = 0.6

        def __init__(self, faces):
            self.faces = faces

        def detect(self, rgb, thr=None):
            return list(self.faces)

    from maskdash.inference.results import Face

    base = Fixed([Face(box=(0, 0, 40, 40), det_score=0.9)])
    head = Fixed([Face(box=(2, 2, 42, 42), det_score=0.5),  # YuNet's face again
                  Face(box=(12, 22, 28, 38), det_score=0.8),  # a part of it (a masked mouth): IoU 0.16
                  Face(box=(100, 100, 110, 110), det_score=0.9),  # too small for the head
                  Face(box=(200, 100, 240, 150), det_score=0.5)])  # a face YuNet missed
    faces = JoinedDetector(base, head, "t", min_face_px=24).detect(np.zeros((300, 300, 3), np.uint8))
    assert [f.box for f in faces] == [(0, 0, 40, 40), (200, 100, 240, 150)]  # sorted by score


def test_train_detector_writes_a_run_folder(tmp_path, dev_scenes):
    from maskdash.cli import main

    out = tmp_path / "run"
    assert main(["train-detector", "--out", str(out), "--epochs", "1", "--limit", "3", "--variants", "1"]) == 0
    for name in ("args.json", "history.csv", "head_best.keras", "head_last.keras", "model.keras", "model.tflite",
                 "training.json"):
        assert (out / name).is_file(), name
    rows = (out / "history.csv").read_text().splitlines()
    assert rows[0] == "epoch,loss,val_loss" and len(rows) == 2
    det = FaceHeadDetector(out / "model.tflite")  # the exported model loads as a detector
    assert isinstance(det.detect(np.zeros((240, 320, 3), np.uint8)), list)


def test_a_larger_photo_holds_the_face_head_to_the_same_grid_cells(joined, dev_scenes):
    """The face head sees every photo at 512 px. On val photos enlarged 4× (a phone photo's size)
    it adds no face under the size it needs on the 400 px photo, counted in its own grid cells (before:
    boxes of 3–12 original pixels, blurred blobs among them); 400 px photos are judged as before."""
    from maskdash.inference import facehead as fhd

    base, both = joined
    scenes = [s for s in datasets.list_scenes(dev_scenes)[0]
              if datasets.scene_fold(s.image_path) == "train" and train_fh.sub_fold(s.image_path) == "val"]
    both.windows, windows = None, both.windows  # the face head's own faces only
    try:
        added = 0
        for scene in scenes[:12]:
            rgb = load_rgb(scene.image_path)
            assert fhd.size_factor(rgb.shape[1], rgb.shape[0]) == 1.0
            big = cv2.resize(rgb, None, fx=4, fy=4, interpolation=cv2.INTER_CUBIC)
            assert fhd.size_factor(big.shape[1], big.shape[0]) == 4.0
            yunet = {f.box for f in base.detect(big)}
            for f in both.detect(big):
                if f.box not in yunet:
                    added += 1
                    assert f.box[3] - f.box[1] >= 4 * fhd.MIN_FACE_PX, f
        assert added  # the face head still adds faces to enlarged photos
    finally:
        both.windows = windows


def test_a_close_up_face_gets_one_box(joined, fm12k):
    """Face Mask 12K Validation faces shown large on a grey canvas (a portrait photo): the face
    head adds no second box for a face YuNet found (before the centre rule it boxed masked mouths)."""
    from maskdash.imaging import load_rgb

    base, both = joined
    files = sorted((fm12k / "Validation").rglob("*.*"))[::20][:24]
    assert len(files) == 24
    extra = 0
    for path in files:
        canvas = np.full((480, 640, 3), 128, np.uint8)
        canvas[90:390, 170:470] = cv2.resize(load_rgb(path), (300, 300))
        found = base.detect(canvas)
        if found:  # the question is duplicates of a face YuNet found
            extra += len(both.detect(canvas)) - len(found)
    assert extra == 0


def test_train_detector_says_what_is_wrong_with_its_inputs(tmp_path, capsys):
    from maskdash.cli import main

    (tmp_path / "scenes" / "images").mkdir(parents=True)
    (tmp_path / "scenes" / "annotations").mkdir()
    assert main(["train-detector", "--out", str(tmp_path / "run"), "--scenes", str(tmp_path / "scenes")]) == 2
    assert "the face head needs both" in capsys.readouterr().err
    assert main(["train-detector", "--out", str(tmp_path / "nothing"), "--ship", str(tmp_path / "shipped")]) == 2
    assert "has no model.tflite" in capsys.readouterr().err and not (tmp_path / "shipped").exists()


def test_train_detector_names_an_extra_faces_folder_it_cannot_paste_from(tmp_path, capsys, dev_scenes):
    from maskdash.cli import main

    (tmp_path / "empty").mkdir()
    assert main(["train-detector", "--out", str(tmp_path / "run"), "--scenes", str(dev_scenes), "--limit", "2",
                 "--paste", "1", "--extra-faces", str(tmp_path / "empty")]) == 2
    err = capsys.readouterr().err
    assert "empty" in err and "index.csv" in err and "Traceback" not in err


def test_scenes_can_enlarge_the_photos_and_keep_the_labelled_heights(dev_scenes, tmp_path, capsys):
    """`scenes --enlarge 3`: the same labelled faces, matched in the enlarged photo and binned by their
    labelled height, and the report says so; an enlargement out of range is refused before any work."""
    import json

    from maskdash.cli import main

    docs = {}
    for k in ("1", "3"):
        out = tmp_path / f"x{k}.json"
        assert main(["scenes", "--fold", "train", "--subfold", "val", "--limit", "40", "--no-classifier",
                     "--detector", "yunet-multiscale", "--enlarge", k, "--json", str(out)]) == 0
        docs[k] = json.loads(out.read_text())
    assert "each enlarged 3×" in capsys.readouterr().out
    one, three = docs["1"], docs["3"]
    assert three["enlarge"] == 3.0 and "enlarge" not in one and three["images"] == one["images"] > 0
    assert [b["n"] for b in three["by_height"]] == [b["n"] for b in one["by_height"]]
    # The large faces are found in the enlarged photos as well (their boxes matched at the new scale).
    assert three["faces_32px_plus"]["found"] >= 0.9 * one["faces_32px_plus"]["found"] > 0
    assert main(["scenes", "--enlarge", "0.5", "--no-classifier"]) == 2
    assert "--enlarge must be between 1 and 10, got 0.5" in capsys.readouterr().err


@pytest.mark.slow
def test_the_shipped_photo_pipeline_on_the_dev_holdout(dev_scenes):
    """Issue 15's headline, measured live: the photo detector (YuNet multi-scale joined by the face
    head) and the shipped classifier over the dev holdout fold; the committed figures (the Home and
    Evaluation pages, the model cards) are what this run gives."""
    import json

    from maskdash.evaluation.scenes import evaluate_pipeline, fold_scenes
    from maskdash.model.runtime import load_classifier

    doc = evaluate_pipeline(detection.make_detector(detection.default_photo_detector()), load_classifier(None),
                            fold_scenes(dev_scenes, "holdout"))
    assert doc["images"] == 229 and doc["all"]["n"] == 1060
    assert doc["all"]["right_share"] >= 0.85  # the target: found and labelled right
    assert doc["false_positives_per_image"] <= 1.0  # the target
    assert doc["faces_32px_plus"]["right_share"] >= 0.885  # not yet the 95 %: a floor against regressions
    committed = json.loads((settings.MODELS_DIR / "robust" / "scenes_holdout.json").read_text())
    assert abs(doc["all"]["right"] - committed["all"]["right"]) <= 3
    assert abs(doc["false_positives"] - committed["false_positives"]) <= 3


def test_face_head_faces_are_reported_on_the_detectors_scale(dev_scenes):
    """The face head's own scores run lower than YuNet's: each face it adds is reported on the joined
    detector's scale, its bar at YuNet's default, so that a user's threshold keeps only faces scored at
    or above it (the Photos page's slider and table agree). The default passed as a number gives the
    same answer; the lower bar for large faces (when lower) holds up to the default only."""
    from maskdash.inference import facehead as fhd
    from maskdash.inference.detection import make_detector

    det = make_detector("yunet-facehead")
    d0 = det.default_threshold
    for bar in (fhd.THRESHOLD, fhd.LARGE_THRESHOLD):  # the map and its inverse agree, and keep the order
        for t in (0.1, 0.3, d0, 0.8, 0.95):
            assert fhd.common_score(fhd.raw_score(t, bar, d0), bar, d0) == pytest.approx(t)
        assert fhd.common_score(bar, bar, d0) == pytest.approx(d0) and fhd.common_score(1.0, bar, d0) == 1.0
    scenes, _ = datasets.list_scenes(dev_scenes)
    added = 0
    for s in [s for s in scenes if datasets.scene_fold(s.image_path) == "train"][:30]:
        rgb = load_rgb(s.image_path)
        default = det.detect(rgb)
        assert [f.box for f in det.detect(rgb, d0)] == [f.box for f in default]
        base = {f.box for f in det.base.detect(rgb)}
        head = [f for f in default if f.box not in base]
        added += len(head)
        assert all(f.det_score >= d0 - 1e-9 for f in head)
        for t in (0.8, 0.95):
            assert all(f.det_score >= t - 1e-9 for f in det.detect(rgb, t))
    assert added  # the face head adds faces on these photos
