"""Failure analysis: the yaw estimate on real faces turned, mirrored and tilted; occluders placed
from real landmarks; the gallery's mistake table; and a small real run of every study."""

from __future__ import annotations

import json
import math
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest

from maskdash import settings

from maskdash.analysis import examples, results, sources, studies
from maskdash.analysis.landmarks import detect_on_canvas
from maskdash.analysis.mistakes import mistakes
from maskdash.analysis.occluders import OCCLUDERS, FaceGeometry, occlude
from maskdash.analysis.run import run_analysis
from maskdash.analysis.yaw import estimate_yaw, yaw_bin
from maskdash.data.datasets import list_split
from maskdash.imaging import load_rgb, to_input


def analysis_model() -> Path:
    """The shipped model (committed under models/)."""
    shipped = settings.shipped_model_path()
    assert shipped.is_file(), f"the shipped model is missing: {shipped}"
    return shipped


@pytest.fixture(scope="module")
def detector():
    from maskdash.inference.detection import make_detector

    return make_detector("blazeface")


def turn(face: np.ndarray, degrees: float) -> np.ndarray:
    """A real frontal face wrapped on a vertical cylinder and turned by `degrees` (positive: the
    nose moves to the image's right) — real texture, known geometry."""
    h, w = face.shape[:2]
    r = w / 2
    xs = (np.arange(w) + 0.5 - r) / r
    phi = np.arcsin(np.clip(xs, -1, 1)) - math.radians(degrees)
    valid = (np.abs(xs) < 1) & (np.abs(phi) < math.pi / 2)
    mapx = np.tile(np.where(valid, np.sin(phi) * r + r - 0.5, -1).astype(np.float32), (h, 1))
    mapy = np.tile(np.arange(h, dtype=np.float32)[:, None], (1, w))
    return cv2.remap(face, mapx, mapy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=(128, 128, 128))


def rotate(face: np.ndarray, degrees: float) -> np.ndarray:
    h, w = face.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2, h / 2), degrees, 1.0)
    return cv2.warpAffine(face, m, (w, h), borderMode=cv2.BORDER_REFLECT_101)


def yaw_of(detector, face: np.ndarray):
    det = detect_on_canvas(detector, face)
    assert det is not None, "BlazeFace found no face"
    return estimate_yaw(det.landmarks), det


@pytest.fixture(scope="module")
def frontal(fm12k, detector):
    """The first unmasked Test face (sorted) that reads as frontal: |yaw| < 5°."""
    for s in [s for s in list_split(fm12k, "Test") if s.label == 1][:60]:
        face = to_input(load_rgb(s.path))
        det = detect_on_canvas(detector, face)
        if det is not None and abs(estimate_yaw(det.landmarks).yaw) < 5:
            return face
    pytest.fail("no frontal face among the first 60 unmasked Test faces")


# ---------------------------------------------------------------- yaw


def test_yaw_of_a_real_face_turned_mirrored_and_tilted(detector, frontal):
    y0 = yaw_of(detector, frontal)[0]
    right20, right40 = yaw_of(detector, turn(frontal, 20))[0], yaw_of(detector, turn(frontal, 40))[0]
    left20, left40 = yaw_of(detector, turn(frontal, -20))[0], yaw_of(detector, turn(frontal, -40))[0]
    assert abs(y0.yaw) < 5
    # sign follows the turn, and a larger turn reads larger
    assert right20.yaw > 8 and left20.yaw < -8
    assert right40.yaw > right20.yaw + 5 and left40.yaw < left20.yaw - 5
    assert abs(right40.yaw) > 25 and abs(left40.yaw) > 25
    assert yaw_bin(right40.yaw) in ("30–45°", "45°+")
    # a mirror image turns the other way by about as much
    mirrored = yaw_of(detector, np.ascontiguousarray(turn(frontal, 30)[:, ::-1]))[0]
    turned = yaw_of(detector, turn(frontal, 30))[0]
    assert mirrored.yaw < -10 < 10 < turned.yaw
    assert abs(mirrored.yaw + turned.yaw) < 15  # BlazeFace itself is not exactly mirror-symmetric
    # tilting the head in the image plane is roll, not yaw
    for angle in (-20, 20):
        tilted = yaw_of(detector, rotate(frontal, angle))[0]
        assert abs(tilted.yaw) < 10
        assert abs(abs(tilted.roll) - 20) < 6
    # both cues (eyes and ears) agree on the direction
    assert right40.yaw_eyes > 0 and right40.yaw_ears > 0


def test_yaw_geometry_and_bad_input():
    frontal = np.array([[30, 40], [70, 40], [50, 60], [50, 75], [5, 45], [95, 45]], float)
    y = estimate_yaw(frontal)
    assert abs(y.yaw) < 1e-9 and abs(y.roll) < 1e-9
    turned = frontal.copy()
    turned[2, 0] += 8  # nose tip moves right of the eye and ear midpoints
    assert estimate_yaw(turned).yaw > 0
    th = math.radians(30)  # the same face rotated in the image: same yaw, roll 30°
    rot = np.array([[math.cos(th), -math.sin(th)], [math.sin(th), math.cos(th)]])
    y_rot = estimate_yaw(turned @ rot.T)
    assert y_rot.yaw == pytest.approx(estimate_yaw(turned).yaw, abs=1e-6)
    assert y_rot.roll == pytest.approx(30, abs=1e-6)
    assert estimate_yaw(turned[:5]).yaw_ears is None  # no ears: the eye estimate alone
    with pytest.raises(ValueError):
        estimate_yaw(np.zeros((2, 2)))
    with pytest.raises(ValueError):
        estimate_yaw(np.array([[10, 10], [10, 10], [10, 20]]))


# ---------------------------------------------------------------- occluders


def _disc(shape, centre, radius) -> np.ndarray:
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    return (xx - centre[0]) ** 2 + (yy - centre[1]) ** 2 <= radius**2


def _check_covers_mouth_and_nose(face, occ, geo: FaceGeometry):
    s = geo.eye_distance
    a = occ.alpha
    for name, pt in (("mouth", geo.mouth), ("nose", geo.nose)):
        assert a[int(round(pt[1])), int(round(pt[0]))] > 0.9, f"{occ.kind} leaves the {name} visible"
    mouth_area = _disc(a.shape, geo.mouth, 0.25 * s)
    assert a[mouth_area].mean() > 0.9, occ.kind
    for eye in (geo.right_eye, geo.left_eye):  # the eyes stay visible
        assert a[_disc(a.shape, eye, 0.08 * s)].mean() < 0.1, occ.kind
    changed = np.abs(occ.image.astype(int) - face.astype(int)).sum(axis=2) > 0
    assert changed[mouth_area].mean() > 0.9
    # the object is drawn, not pasted flat: it has texture and shading
    assert occ.image[mouth_area].std() > 3


def test_occluders_cover_mouth_and_nose_from_real_landmarks(fm12k, detector):
    samples = [s for s in list_split(fm12k, "Test") if s.label == 1][:40:8]
    tried = 0
    for s in samples:
        face = to_input(load_rgb(s.path))
        det = detect_on_canvas(detector, face)
        if det is None:
            continue
        tried += 1
        geo = FaceGeometry.from_landmarks(det.landmarks)
        for kind in OCCLUDERS:
            occ = occlude(face, kind, geo, rng=7)
            _check_covers_mouth_and_nose(face, occ, geo)
            assert occ.image.shape == face.shape and occ.image.dtype == np.uint8
            again = occlude(face, kind, geo, rng=7)
            assert np.array_equal(again.image, occ.image)  # seeded: reproducible
    assert tried >= 3


def test_occluders_follow_a_tilted_face(fm12k, detector):
    face = rotate(to_input(load_rgb(fm12k / "Test/WithoutMask/1015.jpg")), 25)
    det = detect_on_canvas(detector, face)
    assert det is not None
    geo = FaceGeometry.from_landmarks(det.landmarks)
    assert abs(estimate_yaw(det.landmarks).roll) > 15
    for kind in OCCLUDERS:
        _check_covers_mouth_and_nose(face, occlude(face, kind, geo, rng=1), geo)


def test_occluder_fallback_geometry_and_errors(fm12k):
    face = to_input(load_rgb(fm12k / "Test/WithoutMask/1015.jpg"))
    geo = FaceGeometry.typical(224)
    for kind in OCCLUDERS:
        occ = occlude(face, kind, None, rng=3)  # no landmarks: the typical crop layout
        _check_covers_mouth_and_nose(face, occ, geo)
    with pytest.raises(ValueError, match="unknown occluder"):
        occlude(face, "mask", None)
    with pytest.raises(ValueError):
        occlude(face.astype(np.float32), "hand", None)
    with pytest.raises(ValueError):
        FaceGeometry.from_landmarks(np.zeros((3, 2)))


# ---------------------------------------------------------------- gallery table


def test_mistakes_table_tags_and_filters():
    preds = pd.DataFrame({
        "path": ["a.jpg", "a.jpg", "b.jpg", "c.jpg", "d.jpg", "e.jpg"],
        "face": [0, 1, 0, 0, 0, 0],
        "truth": ["with_mask", "without_mask", "mask_incorrect", "without_mask", "with_mask", "without_mask"],
        "p_mask": [0.02, 0.95, 0.8, 0.4, 0.7, 0.6],
        "height": [20, 80, 50, 50, 50, 50],
    })
    yaw = pd.DataFrame({"source": ["dev_scenes"], "path": ["a.jpg"], "face": [1], "yaw": [-41.0]})
    dups = pd.DataFrame({"group": [1, 1], "kind": ["exact", "exact"], "path": ["e.jpg", "x.jpg"],
                         "split": ["Test", "Train"], "label": ["without_mask"] * 2})
    m = mistakes(preds, "dev_scenes", 0.5, dups, yaw)
    assert list(m["path"]) == ["a.jpg", "a.jpg", "b.jpg", "e.jpg"]  # most confident first
    tags = dict(zip(zip(m["path"], m["face"]), m["tags"]))
    assert tags[("a.jpg", 0)] == "confident, low-res"
    assert tags[("a.jpg", 1)] == "confident, turned"
    assert tags[("b.jpg", 0)] == "incorrect-mask"
    assert tags[("e.jpg", 0)] == "duplicate"
    assert m.loc[0, "confidence"] == pytest.approx(0.98)
    assert set(m["error"]) == {"called with_mask", "called without_mask"}
    everything = mistakes(preds, "dev_scenes", 0.5, include_correct=True)
    assert len(everything) == 6 and (everything["error"] == "correct").sum() == 2
    # a stricter threshold turns 0.6 and 0.7 into "without" calls
    strict = mistakes(preds, "dev_scenes", 0.75)
    assert "d.jpg" in set(strict["path"]) and "e.jpg" not in set(strict["path"])


def test_confidence_is_the_probability_of_the_class_called():
    """One meaning in both galleries, whatever the threshold: not the distance to the threshold."""
    preds = pd.DataFrame({"path": ["a.jpg", "b.jpg", "c.jpg"], "truth": ["with_mask", "without_mask", "with_mask"],
                          "p_mask": [0.6, 0.4, 0.2]})
    m = mistakes(preds, "test", 0.3, include_correct=True).set_index("path")
    assert m.loc["b.jpg", "label"] == "with_mask" and m.loc["b.jpg", "confidence"] == pytest.approx(0.4)
    assert m.loc["c.jpg", "label"] == "without_mask" and m.loc["c.jpg", "confidence"] == pytest.approx(0.8)
    assert m.loc["a.jpg", "confidence"] == pytest.approx(0.6)
    assert list(mistakes(preds, "test", 0.3)["path"]) == ["c.jpg", "b.jpg"]


# ---------------------------------------------------------------- a small real run


@pytest.fixture(scope="module")
def small_run(tmp_path_factory, fm12k, dev_scenes):
    out = tmp_path_factory.mktemp("analysis") / "run"
    summary = run_analysis(analysis_model(), fm12k.parent, out, progress=False, limit=10, sweep_limit=4,
                           engine="keras")
    return out, summary


def test_run_analysis_writes_every_study(small_run, fm12k):
    out, summary = small_run
    for f in ("summary.json", "angles_faces.csv", "angles_bins.csv", "occluders.csv", "occluders_summary.csv",
              "distance.csv", "lighting.csv", "native_sizes.csv", "below_nose_summary.csv", "hands_summary.csv",
              "dim_webcam_summary.csv", "examples.csv"):
        assert (out / f).is_file(), f
    assert json.loads((out / "summary.json").read_text()) == json.loads(json.dumps(summary))
    assert summary["subsample"]["per_class"] == {"with_mask": 5, "without_mask": 5}
    assert summary["subsample"]["sweep_faces"] == 4
    assert "seed 0" in summary["subsample"]["note"]

    faces = pd.read_csv(out / "angles_faces.csv")
    assert set(faces["source"]) == {"test", "dev_scenes"}
    assert (faces["source"] == "test").sum() == 10 and (faces["source"] == "dev_scenes").sum() == 10
    assert faces["p_mask"].between(0, 1).all()
    det = faces[faces["detected"]]
    assert len(det) >= 10 and det["yaw"].abs().max() < 90

    occ = pd.read_csv(out / "occluders_summary.csv")
    assert list(occ["object"]) == ["none", *OCCLUDERS]
    assert (occ["n"] == 5).all()
    assert pd.read_csv(out / "occluders.csv")["truth"].eq("without_mask").all()

    dist = pd.read_csv(out / "distance.csv")
    assert sorted(dist[dist["truth"] == "all"]["width"]) == list(studies.DISTANCE_WIDTHS)
    light = pd.read_csv(out / "lighting.csv")
    b = light[(light["kind"] == "brightness") & (light["truth"] == "all")]
    assert sorted(b["factor"]) == list(studies.BRIGHTNESS)

    sizes = pd.read_csv(out / "native_sizes.csv")
    assert sizes["count"].sum() == sum(len(list_split(fm12k, s)) for s in ("Train", "Validation", "Test"))
    med = summary["studies"]["native_size"]["median_width"]["Train"]
    assert med["with_mask"] > 1.5 * med["without_mask"]  # the resolution shortcut, measured

    # the examples are recipes: no face crops are written, each is cut again from the data
    assert not list(out.rglob("*.jpg"))
    recipes = pd.read_csv(out / "examples.csv")
    thumbs = [examples.cut_example(r, fm12k.parent) for _, r in recipes.iterrows()]
    assert 0 < len(thumbs) <= 48
    for t in thumbs:
        assert t.shape == (examples.THUMB_PX, examples.THUMB_PX, 3)
    assert set(recipes["study"]) == {"angles", "occluders", "below_nose", "hands", "dim_webcam"}

    declared = {f for s in studies.REGISTRY.values() for f in s.files}
    assert set(summary["files"]) - {"examples.csv"} <= declared
    res = results.load_results("run", out.parent)
    assert not res["errors"] and res["summary"]["name"] == summary["name"]
    assert results.result_names(out.parent) == ["run"]


def test_cli_reports_bad_inputs(tmp_path, capsys, fm12k):
    from maskdash.cli import main

    assert main(["analyze", "no_such_recipe", "--data", str(fm12k.parent), "--out", str(tmp_path)]) == 2
    assert "no_such_recipe" in capsys.readouterr().err
    assert main(["analyze", "robust", "--studies", "angles,colour", "--out", str(tmp_path)]) == 2
    assert "colour" in capsys.readouterr().err
    model = str(analysis_model())
    assert main(["analyze", model, "--data", str(fm12k.parent), "--out", str(tmp_path), "--limit", "1"]) == 2
    assert "at least 2" in capsys.readouterr().err
    assert main(["analyze", model, "--data", str(fm12k.parent), "--out", str(tmp_path), "--detector", "haar",
                 "--studies", "angles", "--engine", "keras", "--limit", "4"]) == 2
    assert "unknown face detector" in capsys.readouterr().err
    with pytest.raises(FileNotFoundError, match="MASKDASH_DATA"):
        sources.resolve_data(tmp_path)
    with pytest.raises(ValueError, match="unknown studies"):
        run_analysis(analysis_model(), fm12k.parent, tmp_path, studies=("angles", "colour"))


def test_headlines_pick_the_figures_from_the_summary(small_run):
    _, summary = small_run
    h = results.headlines(summary)
    occ = pd.read_csv(small_run[0] / "occluders_summary.csv").set_index("object")
    assert h["no mask + hand: called with mask"] == pytest.approx(occ.loc["hand", "called_with_mask"])
    dist = pd.read_csv(small_run[0] / "distance.csv")
    acc16 = dist[(dist["width"] == 16) & (dist["truth"] == "all")]["accuracy"].item()
    assert h["face 16 px wide: accuracy"] == pytest.approx(acc16)
    assert all(v is None or 0 <= v <= 1 for v in h.values())
    assert results.headlines({}) == {k: None for k in h}


# ---------------------------------------------------------------- registry, sweeps, committed examples


def test_cli_study_names_are_the_registry():
    from maskdash import cli

    assert cli.STUDY_NAMES == tuple(studies.REGISTRY) == studies.STUDIES
    assert all(s.title for s in studies.REGISTRY.values())
    # every study declares the tables it writes (a run that adds studies replaces only those), and
    # the dashboard reads them all
    declared = [f for s in studies.REGISTRY.values() for f in s.files]
    assert all(s.files for s in studies.REGISTRY.values()) and len(declared) == len(set(declared))
    assert set(declared) | {"examples.csv"} == set(results.RESULT_FILES)


class _MeanClassifier:
    """p(with_mask) = a face's mean intensity / 255: enough to follow every image through."""

    def predict_batched(self, faces):
        return np.asarray(faces, np.float32).mean(axis=(1, 2, 3)) / 255


def test_one_sweep_behind_the_probes_and_the_studies(monkeypatch):
    from maskdash.evaluation import evaluate

    calls = []
    real = evaluate.sweep

    def spy(classifier, images, transform, values, *args, **kwargs):
        calls.append(tuple(values))
        return real(classifier, images, transform, values, *args, **kwargs)

    monkeypatch.setattr(evaluate, "sweep", spy)
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (4, 224, 224, 3), dtype=np.uint8)
    labels = np.array([0, 0, 1, 1])
    clf = _MeanClassifier()
    evaluate.resolution_probe(clf, images, labels)
    evaluate.lighting_probe(clf, images, labels)
    faces = sources.TestFaces([f"{k}.jpg" for k in range(4)], ["with_mask"] * 2 + ["without_mask"] * 2,
                              list(images), images)
    dist = studies.distance_study(faces, [0, 3], clf, False)
    light = studies.lighting_study(faces, [0, 3], clf, False)
    assert calls == [evaluate.RESOLUTION_WIDTHS, evaluate.LIGHTING_FACTORS, studies.DISTANCE_WIDTHS,
                     studies.BRIGHTNESS, tuple(f for f in studies.CONTRAST if f != 1.0)]
    # a sweep row is the classifier on each transformed image
    from maskdash.data.augment import brightness

    p = real(clf, images, brightness, (0.5, 2.0))
    assert p.shape == (2, 4)
    assert p[1, 2] == pytest.approx(clf.predict_batched(brightness(images[2], 2.0)[None])[0])
    assert len(dist) == 2 * len(studies.DISTANCE_WIDTHS) and len(light) == 2 * (len(studies.BRIGHTNESS) + len(studies.CONTRAST))


@pytest.mark.parametrize("name", ["robust", "seed"])
def test_committed_examples_are_recipes_cut_from_the_data(name, fm12k, dev_scenes):
    folder = settings.MODELS_DIR / "analysis" / name
    assert not list(folder.rglob("*.jpg")), "face crops belong to the data sets, not to git"
    recipes = pd.read_csv(folder / "examples.csv")
    assert {"angles", "occluders"} <= set(recipes["study"]) <= set(studies.STUDIES)
    drawn = recipes[recipes["study"].isin(["angles", "occluders"])]
    assert drawn["landmarks"].notna().all()
    assert (drawn["occluder"].fillna("") == drawn["detail"].where(drawn["study"] == "occluders", "")).all()
    # other studies draw only masks below the nose (mask_<variant>)
    others = recipes[~recipes["study"].isin(["angles", "occluders"])]["occluder"].dropna()
    assert others.str.startswith("mask_").all()
    for _, r in recipes.iterrows():
        assert examples.cut_example(r, fm12k.parent).shape == (examples.THUMB_PX, examples.THUMB_PX, 3)


# ---------------------------------------------------------------- light on real faces


def test_luma_of_a_real_photo_and_its_face_boxes(dev_scenes):
    from maskdash.analysis import lighting as light
    from maskdash.data.datasets import list_scenes

    scene = next(sc for sc in list_scenes(dev_scenes)[0] if len(sc.boxes) >= 2)
    rgb = load_rgb(scene.image_path)
    assert light.luma(np.zeros((4, 4, 3), np.uint8)) == 0.0
    assert light.luma(np.full((4, 4, 3), 255, np.uint8)) == pytest.approx(255, abs=0.01)
    assert light.luma(rgb) == pytest.approx(float(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).mean()), abs=0.6)
    b = scene.boxes[0]
    box = (b.x1, b.y1, b.x2, b.y2)
    x1, y1, x2, y2 = (int(round(v)) for v in box)
    assert light.box_luma(rgb, box) == pytest.approx(light.luma(rgb[y1:y2, x1:x2]))
    assert light.box_luma(rgb, (-50, -50, -10, -10)) is None  # outside the photo
    # a darker copy of the photo reads darker by the same factor
    from maskdash.data.augment import brightness

    assert light.box_luma(brightness(rgb, 0.5), box) == pytest.approx(light.box_luma(rgb, box) / 2, abs=1.0)


def test_measured_dev_faces_dark_against_the_rest(dev_scenes, tmp_path):
    """Real holdout faces measured from their photos; the darkest tenth and the backlit faces
    compared with the rest, with their n."""
    from maskdash.analysis import lighting as light
    from maskdash.data.datasets import list_scenes, scene_fold

    scenes = [sc for sc in list_scenes(dev_scenes)[0] if scene_fold(sc.image_path) == "holdout"][:25]
    rows = [{"path": sc.image_path.name, "face": k, "x1": b.x1, "y1": b.y1, "x2": b.x2, "y2": b.y2,
             "truth": b.label, "height": b.height, "p_mask": 0.9 if k % 3 else 0.1}
            for sc in scenes for k, b in enumerate(sc.boxes)]
    rows.append({**rows[0], "path": "missing.jpg"})  # a photo that is not there: no luma, left out
    preds = pd.DataFrame(rows)
    m = light.measure_faces(preds, lambda p: dev_scenes / "images" / p)
    assert len(m) == len(preds) and m["face_luma"].iloc[:-1].notna().all() and np.isnan(m["face_luma"].iloc[-1])
    assert m["face_luma"].iloc[:-1].between(0, 255).all() and m["photo_luma"].iloc[:-1].between(0, 255).all()

    binary = m[m["truth"].isin(["with_mask", "without_mask"])].dropna(subset=["face_luma"])
    t = light.dark_vs_rest(m, 0.5)
    assert list(t["faces"]) == ["darkest 10%", "the rest"] and t["n"].sum() == len(binary)
    assert t.loc[0, "luma_to"] <= t.loc[1, "luma_from"]
    dark = binary[binary["face_luma"] <= t.loc[0, "luma_to"]]
    right = (dark["p_mask"] >= 0.5) == (dark["truth"] == "with_mask")
    assert t.loc[0, "accuracy"] == pytest.approx(right.mean())

    back = light.backlit_vs_rest(m, 0.5)
    assert back["n"].sum() == len(binary)
    lit = binary[binary["face_luma"] < light.BACKLIT_RATIO * binary["photo_luma"]]
    assert back.loc[0, "n"] == len(lit) or (len(lit) == 0 and back.loc[0, "faces"] == "the rest")

    by = light.accuracy_by_luma(m, 0.5)
    assert list(by["luma_bin"]) == list(light.LUMA_BINS) and by["n"].sum() == len(binary)
    assert (by["enough"] == (by["n"] >= light.MIN_BIN_FACES)).all()

    wrong = light.wrong(m, 0.5)
    bad = binary[(binary["p_mask"] >= 0.5) != (binary["truth"] == "with_mask")]
    assert wrong == {(p, int(f)) for p, f in zip(bad["path"], bad["face"])}
    darkest = light.darkest(m, 4, min_height=20, among=wrong)
    assert len(darkest) <= 4 and (darkest["height"] >= 20).all()
    assert {(p, int(f)) for p, f in zip(darkest["path"], darkest["face"])} <= wrong
    assert darkest["face_luma"].is_monotonic_increasing


def test_lighting_levels_are_the_study_operations(fm12k):
    from maskdash.analysis import lighting as light
    from maskdash.data.augment import brightness

    face = to_input(load_rgb(next(s for s in list_split(fm12k, "Test") if s.label == 0).path))
    levels = light.level_images(face, "brightness", studies.BRIGHTNESS)
    assert len(levels) == len(studies.BRIGHTNESS)
    assert all(np.array_equal(im, brightness(face, f)) for im, f in zip(levels, studies.BRIGHTNESS))
    lumas = [light.luma(im) for im in levels]
    assert lumas == sorted(lumas)  # brighter at every step (clipping only flattens the top)
    flat = light.level_images(face, "contrast", (0.25, 1.0))
    assert np.array_equal(flat[1], face) and flat[0].std() < face.std()


def test_recorded_model_paths_are_shown_without_the_machine():
    assert results.shown_path(settings.PROJECT_ROOT / "models" / "robust" / "model.keras") == "models/robust/model.keras"
    assert results.shown_path("/elsewhere/checkout/models/robust/model.keras") == "models/robust/model.keras"
    assert results.shown_path("/somewhere/else/best.keras") == "best.keras"
