"""Three classes downstream of the classifier, with real models: the shipped binary one and a
three-class one made from it (conftest `below_nose_*`: a masked face stays with_mask, an unmasked
one becomes mask_incorrect). Face records and the one label rule, predict's CSV columns, and the
live tracker's steady mask_incorrect verdict on real frames."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from live_video import face_frame
from maskdash.cli import main
from maskdash.imaging import load_rgb, resize, to_input
from maskdash.inference import live
from maskdash.inference.bench import CLEAR_FACES
from maskdash.inference.draw import COLORS
from maskdash.inference.faces import classify_crop
from maskdash.inference.pipeline import FramePipeline, PipelineConfig
from maskdash.inference.results import CROP_COLUMNS, SCENE_COLUMNS
from maskdash.inference.tracking import Tracker, TrackerConfig
from maskdash.labels import INCORRECT, UNCERTAIN, WITH_MASK, WITHOUT_MASK, label_for

FOLDERS = {WITH_MASK: "WithMask", WITHOUT_MASK: "WithoutMask"}


@pytest.fixture(scope="module")
def face_files(fm12k) -> dict[str, Path]:
    """One clear Test face of each class (bench.CLEAR_FACES)."""
    return {c: fm12k / "Test" / FOLDERS[c] / CLEAR_FACES[c][0] for c in FOLDERS}


def read_csv(path: Path) -> tuple[list[str], list[dict]]:
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        return list(reader.fieldnames or []), list(reader)


# -- face records and the one rule -----------------------------------------------------------------
def test_faces_carry_p_incorrect_and_the_one_rule(face_files, below_nose_classifier, binary_classifier):
    for cls, path in face_files.items():
        rgb = load_rgb(path)
        three = classify_crop(rgb, path.name, below_nose_classifier).faces[0]
        probs = below_nose_classifier.probabilities(to_input(rgb)[None])[0]
        assert three.p_mask == pytest.approx(probs[0], abs=1e-6)
        assert three.p_incorrect == pytest.approx(probs[2], abs=1e-6)
        assert three.label == label_for(three.p_mask, 0.5, three.p_incorrect)
        assert three.label == (WITH_MASK if cls == WITH_MASK else INCORRECT)
        assert three.row(0, path.name)["p_incorrect"] == pytest.approx(probs[2], abs=1e-5)
        assert three.to_json()["p_incorrect"] == pytest.approx(probs[2], abs=1e-6)

        binary = classify_crop(rgb, path.name, binary_classifier).faces[0]
        assert math.isnan(binary.p_incorrect) and binary.label == cls
        assert binary.row(0, path.name)["p_incorrect"] is None and binary.to_json()["p_incorrect"] is None


# -- predict's CSVs ------------------------------------------------------------------------------------
def test_predict_csvs_end_with_p_incorrect(tmp_path, face_files, below_nose_tflite, binary_model, capsys):
    crops = tmp_path / "crops"
    crops.mkdir()
    for cls, path in face_files.items():
        Image.open(path).save(crops / f"{cls}.png")
    out3, out2 = tmp_path / "three.csv", tmp_path / "binary.csv"
    assert main(["predict", str(crops), "--csv", str(out3), "--crops", "--model", str(below_nose_tflite)]) == 0
    assert main(["predict", str(crops), "--csv", str(out2), "--crops", "--model", str(binary_model)]) == 0
    columns, rows = read_csv(out3)
    assert columns == CROP_COLUMNS == ["path", "label", "p_mask", "p_incorrect"]
    by_file = {Path(r["path"]).stem: r for r in rows}
    assert by_file[WITH_MASK]["label"] == WITH_MASK and by_file[WITHOUT_MASK]["label"] == INCORRECT
    for r in rows:
        p, q = float(r["p_mask"]), float(r["p_incorrect"])
        assert 0 <= p + q <= 1 + 1e-4 and r["label"] == label_for(p, 0.5, q)
    columns, rows = read_csv(out2)
    assert columns == CROP_COLUMNS
    assert {Path(r["path"]).stem: r["label"] for r in rows} == {WITH_MASK: WITH_MASK, WITHOUT_MASK: WITHOUT_MASK}
    assert [r["p_incorrect"] for r in rows] == ["", ""]  # a binary model has none

    # scene mode: faces found first, then the same columns plus the box, p_incorrect still last
    canvas = np.full((480, 680, 3), 128, np.uint8)
    for (cls, path), x in zip(face_files.items(), (40, 440)):
        canvas[140:340, x:x + 200] = resize(load_rgb(path), 200, 200)
    photo = tmp_path / "two.png"
    Image.fromarray(canvas).save(photo)
    out = tmp_path / "scene.csv"
    assert main(["predict", str(photo), "--csv", str(out), "--model", str(below_nose_tflite)]) == 0
    columns, rows = read_csv(out)
    assert columns == SCENE_COLUMNS and columns[-1] == "p_incorrect" and columns[:-1][-1] == "p_mask"
    assert sorted(r["label"] for r in rows) == [INCORRECT, WITH_MASK]
    assert all(r["p_incorrect"] != "" for r in rows)
    capsys.readouterr()


# -- the live tracker -----------------------------------------------------------------------------------
def test_tracker_gives_a_face_below_the_nose_a_steady_verdict(face_files, below_nose_classifier):
    """An unmasked-looking face through the real pipeline with the three-class model: uncertain
    for its first frames, then mask_incorrect on every frame (orange box, plain words)."""
    pipeline = FramePipeline(below_nose_classifier, PipelineConfig(detector="blazeface"), warm_up=False)
    session = pipeline.session()
    base = face_frame(face_files[WITHOUT_MASK])
    labels = []
    for i in range(8):
        frame = np.roll(base, (i % 3) * 3, axis=1)  # a person moving a little
        out, result = session.process(frame)
        [face] = result.faces
        labels.append(face.label)
        assert not math.isnan(face.p_incorrect) and face.p_incorrect_smooth > 1 - face.p_smooth - face.p_incorrect_smooth
    assert labels[:2] == [UNCERTAIN] * 2 and labels[2:] == [INCORRECT] * 6
    x1, y1, x2, y2 = (int(v) for v in face.box)
    assert tuple(out[y1, (x1 + x2) // 2]) == COLORS[INCORRECT][::-1]  # the box's top edge, BGR
    verdict = live.steady_verdict(result.faces)
    assert verdict == INCORRECT and "below the nose" in live.verdict_text(verdict, 1)
    assert "not compliant" in live.verdict_text(verdict, 1)


def test_tracker_smooths_p_incorrect_over_its_window():
    """Frame by frame the rule would flicker between mask_incorrect and without_mask; the
    window's means give one steady verdict. A binary model's faces (no p_incorrect) stay
    without_mask."""
    tracker = Tracker(TrackerConfig(window=6, min_frames=3))
    box = [(100.0, 100.0, 200.0, 200.0)]
    p_inc = [0.55, 0.35] * 5  # p_without = 0.25, 0.45: the single-frame rule flips every frame
    assert len({label_for(0.2, 0.5, q) for q in p_inc}) == 2
    seen = [tracker.update(box, None, [0.2], [q])[0] for q in p_inc]
    assert [f.label for f in seen[2:]] == [INCORRECT] * 8
    assert seen[-1].p_incorrect_smooth == pytest.approx(0.45) and seen[-1].p_incorrect == pytest.approx(0.35)
    # masked again (past the hysteresis margin): with_mask, and back below: mask_incorrect once more
    for _ in range(6):
        f = tracker.update(box, None, [0.9], [0.05])[0]
    assert f.label == WITH_MASK
    for _ in range(6):
        f = tracker.update(box, None, [0.1], [0.6])[0]
    assert f.label == INCORRECT
    binary = Tracker(TrackerConfig(window=6, min_frames=3))
    faces = [binary.update(box, None, [0.2])[0] for _ in range(4)]
    assert faces[-1].label == WITHOUT_MASK and math.isnan(faces[-1].p_incorrect_smooth)


def test_a_shrunk_window_keeps_the_smoothed_p_incorrect():
    tracker = Tracker(TrackerConfig(window=4, min_frames=1))
    box = [(0.0, 0.0, 50.0, 50.0)]
    for q in (0.1, 0.2, 0.6, 0.7):
        tracker.update(box, None, [0.2], [q])
    tracker.configure(window=2)
    assert tracker.tracks[0].face.p_incorrect_smooth == pytest.approx(0.65)
