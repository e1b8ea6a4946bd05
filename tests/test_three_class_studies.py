"""The studies for three classes — a mask worn below the nose, real hands beside drawn ones, a dim
webcam — on real faces with a binary model (the seed recipe's): what each counts, that its figures are the
model's calls on those very faces, that a run can add them to a folder's other results, and that
the Failure analysis page shows them. Plus the drawn mask itself: the nose stays, the mouth goes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from maskdash import settings
from maskdash.analysis import calls, examples, results, studies
from maskdash.analysis.below_nose import VARIANTS, mask_below_nose
from maskdash.analysis.landmarks import detect_on_canvas
from maskdash.analysis.occluders import FaceGeometry
from maskdash.analysis.run import run_analysis
from maskdash.data.camera import LEVELS, probe_view
from maskdash.data.datasets import list_extra_faces, list_scenes, list_split, scene_fold
from maskdash.imaging import load_rgb, to_input
from maskdash.labels import INCORRECT, WITH_MASK, WITHOUT_MASK, labels_for

THREE = ("below_nose", "hands", "dim_webcam")
LIMIT = 8  # Test faces: 4 per class


def near(value):
    """Equal to a figure read back from a results CSV (written to 6 significant digits)."""
    return pytest.approx(value, abs=1e-5)


def shipped_tflite() -> Path:
    """A binary model (the seed recipe's): these tests check what a two-class model's studies say
    (no mask_incorrect column; the page says it cannot answer). The shipped three-class model's
    results are the committed ones (models/analysis/robust)."""
    path = settings.MODELS_DIR / "seed" / "model.keras"
    assert path.is_file(), f"the seed model is missing: {path}"
    return path


@pytest.fixture(scope="module")
def detector():
    from maskdash.inference.detection import make_detector

    return make_detector("blazeface")


@pytest.fixture(scope="module")
def classifier():
    from maskdash.model.runtime import load_classifier

    return load_classifier(shipped_tflite())


@pytest.fixture(scope="module")
def extra_root() -> Path:
    from conftest import need

    root = settings.data_dir() / "extra-faces"
    need((root / "index.csv").is_file(), f"extra faces not found at {root} (set MASKDASH_DATA)")
    return root


@pytest.fixture(scope="module")
def three_run(tmp_path_factory, fm12k, dev_scenes, extra_root):
    """The occluders study and the three new ones in one small real run."""
    out = tmp_path_factory.mktemp("reports") / "analysis" / "seed"  # the name analyze gives this model
    summary = run_analysis(shipped_tflite(), fm12k.parent, out, studies=("occluders", *THREE), progress=False,
                           limit=LIMIT, sweep_limit=4)
    return out, summary


# ---------------------------------------------------------------- the drawn mask


def _disc(shape, centre, radius) -> np.ndarray:
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    return (xx - centre[0]) ** 2 + (yy - centre[1]) ** 2 <= radius ** 2


def test_mask_below_the_nose_leaves_the_nose_and_covers_the_mouth(fm12k, detector):
    faces = [to_input(load_rgb(s.path)) for s in [s for s in list_split(fm12k, "Test") if s.label == 1][:60:6]]
    tried = 0
    for k, face in enumerate(faces):
        det = detect_on_canvas(detector, face)
        if det is None:
            continue
        tried += 1
        geo = FaceGeometry.from_landmarks(det.landmarks)
        s = geo.eye_distance
        if not all(0.2 * s <= c <= 224 - 0.2 * s for c in (*geo.nose, *geo.mouth)):
            continue  # a face whose mouth the crop cuts off
        nose = _disc(face.shape, geo.nose, 0.1 * s)
        for variant in VARIANTS:
            occ = mask_below_nose(face, variant, geo, rng=k)
            assert occ.image.shape == face.shape and occ.image.dtype == np.uint8
            # the nose tip and around it: the face's own pixels, untouched
            assert np.array_equal(occ.image[nose], face[nose]), f"{variant} changed the nose tip"
            assert occ.alpha[nose].max() == 0
            for eye in (geo.right_eye, geo.left_eye):
                eye_px = _disc(face.shape, eye, 0.1 * s)
                assert np.array_equal(occ.image[eye_px], face[eye_px])
            assert np.array_equal(mask_below_nose(face, variant, geo, rng=k).image, occ.image)  # seeded
        mouth = _disc(face.shape, geo.mouth, 0.15 * s)
        low = mask_below_nose(face, "mouth_chin", geo, rng=k)
        assert low.alpha[mouth].mean() > 0.95, "the mask below the nose leaves the mouth visible"
        changed = np.abs(low.image.astype(int) - face.astype(int)).sum(axis=2) > 0
        assert changed[mouth].mean() > 0.9
        assert low.image[mouth].std() > 2  # shaded and textured, not a flat patch
        chin = mask_below_nose(face, "chin", geo, rng=k)
        assert chin.alpha[_disc(face.shape, geo.mouth, 0.08 * s)].max() < 0.05  # the mouth shows
        u, v = geo.axes()
        below = geo.mouth + 0.5 * s * v  # between the lower lip and the chin
        if 0 <= below[1] < face.shape[0] - 1:
            assert chin.alpha[int(round(below[1])), int(round(below[0]))] > 0.9
    assert tried >= 5


def test_mask_below_the_nose_without_landmarks_and_bad_input(fm12k):
    face = to_input(load_rgb(fm12k / "Test/WithoutMask/1015.jpg"))
    geo = FaceGeometry.typical(224)
    occ = mask_below_nose(face, "mouth_chin", None, rng=3)
    assert np.array_equal(occ.image[_disc(face.shape, geo.nose, 0.1 * geo.eye_distance)],
                          face[_disc(face.shape, geo.nose, 0.1 * geo.eye_distance)])
    assert occ.alpha[_disc(face.shape, geo.mouth, 0.15 * geo.eye_distance)].mean() > 0.95
    with pytest.raises(ValueError, match="unknown variant"):
        mask_below_nose(face, "forehead")
    with pytest.raises(ValueError):
        mask_below_nose(face.astype(np.float32))


# ---------------------------------------------------------------- binary and three-class calls


def test_calls_read_binary_and_three_class_models():
    three = np.array([[0.6, 0.3, 0.1], [0.2, 0.3, 0.5], [0.1, 0.8, 0.1], [0.3, 0.3, 0.4]], np.float32)
    v = calls.verdicts(three)
    assert list(v["label"]) == [WITH_MASK, INCORRECT, WITHOUT_MASK, INCORRECT]
    t = calls.shares(v.assign(g="a"), ["g"], True).iloc[0]
    assert t["n"] == 4 and t["called_incorrect"] == 0.5 and t["called_with_mask"] == 0.25
    two = calls.verdicts(three[:, :2] / three[:, :2].sum(axis=1, keepdims=True))
    assert set(two["label"]) <= {WITH_MASK, WITHOUT_MASK} and two["p_incorrect"].isna().all()
    b = calls.shares(two.assign(g="a"), ["g"], False).iloc[0]
    assert b["called_incorrect"] is None and b["called_with_mask"] + b["called_without_mask"] == 1


# ---------------------------------------------------------------- the studies on real faces


def test_below_nose_counts_the_real_and_the_drawn_faces(three_run, classifier, dev_scenes, extra_root, fm12k):
    out, summary = three_run
    faces = pd.read_csv(out / "below_nose.csv")
    table = pd.read_csv(out / "below_nose_summary.csv").set_index(["source", "variant"])
    scenes, _ = list_scenes(dev_scenes)
    n_dev = sum(b.label == INCORRECT for sc in scenes if scene_fold(sc.image_path) == "holdout" for b in sc.boxes)
    n_extra = sum(f.label == INCORRECT for f in list_extra_faces(extra_root, ("holdout",)))
    assert table.loc[("dev_scenes", "real"), "n"] == n_dev > 10
    assert table.loc[("extra_faces", "real"), "n"] == n_extra > 10
    for variant in VARIANTS:
        assert table.loc[("generated", variant), "n"] == LIMIT // 2  # every unmasked face of the sample
    assert (faces["truth"] == INCORRECT).all()
    assert list(faces["label"]) == list(labels_for(faces["p_mask"]))  # the one rule, a binary model
    for (source, variant), g in faces.groupby(["source", "variant"]):
        r = table.loc[(source, variant)]
        assert r["called_with_mask"] == near((g["label"] == WITH_MASK).mean())
        assert r["called_with_mask"] + r["called_without_mask"] == near(1)
        assert np.isnan(r["called_incorrect"])  # a binary model cannot say it
    block = summary["studies"]["below_nose"]
    assert block["three_class"] is False and block["table"][0]["called_incorrect"] is None
    # the figures are the model's calls on those very faces: the examples cut again and classified
    recipes = pd.read_csv(out / "examples.csv", dtype={"draw_seed": str})
    mine = recipes[recipes["study"] == "below_nose"]
    assert set(mine["source"]) == {"dev_scenes", "extra_faces", "generated"}
    drawn = mine[mine["source"] == "generated"]
    assert set(drawn["occluder"]) <= {f"mask_{v}" for v in VARIANTS} and len(drawn)
    cut = np.stack([examples.cut_face(r, fm12k.parent) for _, r in mine.iterrows()])
    # (the drawn ones from landmarks kept to 3 decimals: the same mask to within a pixel's rounding)
    assert classifier.predict(cut) == pytest.approx(mine["p_mask"].to_numpy(), abs=0.01)


def test_hands_real_groups_beside_the_drawn_hand(three_run, extra_root):
    out, summary = three_run
    table = pd.read_csv(out / "hands_summary.csv").set_index("group")
    holdout = list_extra_faces(extra_root, ("holdout",))
    # unmasked faces only, not a scarf pulled up: the group report's figure counts
    n_hand = sum(bool({"hand_over_mouth", "object_over_mouth"} & set(f.tags)) and f.label == "without_mask"
                 and "scarf_or_face_cover" not in f.tags for f in holdout)
    n_hard = sum("reviewed_hard_negative" in f.tags for f in holdout)
    assert table.loc["hand_or_object", "n"] == n_hand > 5
    assert table.loc["hard_negative", "n"] == n_hard > 5
    faces = pd.read_csv(out / "hands.csv")
    assert (faces["truth"] == WITHOUT_MASK).all()
    for group in ("hand_or_object", "hard_negative"):
        g = faces[faces["group"] == group]
        assert table.loc[group, "called_with_mask"] == near((g["p_mask"] >= 0.5).mean())
        assert table.loc[group, "kept_label"] == near(1 - table.loc[group, "called_with_mask"])
    # the drawn hand is the occluders study's figure, not a new one
    occ = pd.read_csv(out / "occluders_summary.csv").set_index("object")
    assert table.loc["drawn_hand", "called_with_mask"] == near(occ.loc["hand", "called_with_mask"])
    assert table.loc["drawn_hand", "n"] == occ.loc["hand", "n"] == LIMIT // 2
    assert table.loc["test_untouched", "called_with_mask"] == near(occ.loc["none", "called_with_mask"])
    assert summary["studies"]["hands"]["drawn_from"] == "this run's occluders study"


def test_dim_webcam_levels_and_real_dim_faces(three_run, classifier, extra_root, fm12k):
    out, summary = three_run
    table = pd.read_csv(out / "dim_webcam_summary.csv")
    faces = pd.read_csv(out / "dim_webcam.csv")
    test = table[table["source"] == "test"]
    assert list(dict.fromkeys(test["level"])) == ["original", *LEVELS]
    assert (test["n"] == LIMIT // 2).all() and len(test) == 2 * (1 + len(LEVELS))
    # one face at one level, rendered again with the study's seed: the recorded call
    t = faces[(faces["source"] == "test") & (faces["level"] == "very dark")].reset_index(drop=True)
    paths = list(dict.fromkeys(faces[faces["source"] == "test"]["path"]))
    k = paths.index(t.loc[1, "path"])
    img = probe_view(to_input(load_rgb(fm12k / t.loc[1, "path"])), "very dark", studies.dim_seed(0, k))
    assert classifier.predict(img[None])[0] == pytest.approx(t.loc[1, "p_mask"], abs=2e-3)
    for _, r in test.iterrows():
        g = faces[(faces["source"] == "test") & (faces["level"] == r["level"]) & (faces["truth"] == r["truth"])]
        assert r["kept_label"] == near((g["label"] == g["truth"]).mean())
    real = table[table["source"] == "extra_faces"].set_index("truth")
    tagged = [f for f in list_extra_faces(extra_root, ("holdout",)) if "dim_webcam" in f.tags]
    for truth in real.index:
        assert real.loc[truth, "n"] == sum(f.label == truth for f in tagged)
    if INCORRECT in real.index:  # a binary model cannot keep this label
        assert np.isnan(real.loc[INCORRECT, "kept_label"])
    # example faces at every level, cut from the data with the study's rendering
    recipes = pd.read_csv(out / "examples.csv", dtype={"draw_seed": str})
    dim = recipes[(recipes["study"] == "dim_webcam") & (recipes["source"] == "test")]
    assert set(dim["camera"].fillna("original")) == {"original", *LEVELS}
    thumbs = {r["camera"] if isinstance(r["camera"], str) else "original": examples.cut_face(r, fm12k.parent)
              for _, r in dim.iterrows()}
    assert not any(np.array_equal(thumbs["original"], thumbs[lv]) for lv in LEVELS)
    assert not list(out.rglob("*.jpg"))  # recipes, not face crops


def test_a_run_can_add_studies_to_the_folder(three_run, fm12k, tmp_path):
    from maskdash.cli import main

    out, summary = three_run
    before = {f: (out / f).read_bytes() for f in ("occluders_summary.csv", "below_nose_summary.csv")}
    assert main(["analyze", str(shipped_tflite()), "--data", str(fm12k.parent), "--out", str(out.parent),
                 "--studies", "hands", "--add", "--limit", str(LIMIT)]) == 0
    after = json.loads((out / "summary.json").read_text())
    assert list(after["studies"]) == ["occluders", *THREE]  # the others kept, in the registry's order
    assert {f: (out / f).read_bytes() for f in before} == before
    assert after["studies"]["hands"]["drawn_from"] == "occluders_summary.csv of this model"
    now = {r["group"]: r for r in after["studies"]["hands"]["table"]}
    for r in summary["studies"]["hands"]["table"]:  # the same figures, the drawn ones read back from the CSV
        assert now[r["group"]]["n"] == r["n"]
        assert now[r["group"]]["called_with_mask"] == pytest.approx(r["called_with_mask"], abs=1e-5)
    recipes = pd.read_csv(out / "examples.csv")
    assert set(recipes["study"]) == {"occluders", *THREE}
    assert set(after["files"]) >= {"occluders_summary.csv", "below_nose.csv", "hands_summary.csv", "dim_webcam.csv"}
    # results of another seed are not mixed in: the run says so and replaces them all
    import shutil

    other = tmp_path / "seed"
    shutil.copytree(out, other)
    assert main(["analyze", str(shipped_tflite()), "--data", str(fm12k.parent), "--out", str(tmp_path),
                 "--studies", "hands", "--add", "--seed", "1", "--limit", str(LIMIT)]) == 0
    assert list(json.loads((other / "summary.json").read_text())["studies"]) == ["hands"]
    assert not (other / "occluders_summary.csv").exists() and not (other / "below_nose.csv").exists()
    lines = results.summary_lines(after)
    assert any(line.startswith("hands/hand_or_object (n=") for line in lines)
    assert any(line.startswith("below_nose/dev_scenes/real") for line in lines)


def test_the_page_shows_the_three_studies(three_run, monkeypatch, fm12k):
    from streamlit.testing.v1 import AppTest

    out, summary = three_run
    monkeypatch.setenv("MASKDASH_REPORTS", str(out.parent.parent))
    root = Path(__file__).resolve().parent.parent
    at = AppTest.from_file(str(root / "app.py"), default_timeout=240)
    at.run()
    at.switch_page("views/failure_analysis.py")
    at.run()
    assert not at.exception, at.exception
    shown = "\n".join(str(e.value) for kind in ("markdown", "caption", "subheader", "info")
                      for e in getattr(at, kind))
    for heading in ("A mask worn below the nose", "Real hands and objects over the mouth", "A dim webcam"):
        assert heading in shown
    assert "cannot answer *mask worn incorrectly*" in shown  # the binary model, said so
    hands = pd.read_csv(out / "hands_summary.csv").set_index("group")
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["real hand or object"] == f"n = {hands.loc['hand_or_object', 'n']}"
    frames = [d.value for d in at.dataframe]
    below = next(f for f in frames if "called with mask (harmful)" in f.columns)
    dev = below[below["faces"].str.startswith("dev scenes")].iloc[0]
    r = summary["studies"]["below_nose"]["table"][0]
    assert dev["n"] == r["n"] and dev["called with mask (harmful)"] == f"{100 * r['called_with_mask']:.1f} %"
    assert dev["called mask incorrect"] == "–"
    caps = [c for img in at.image for c in img.captions]
    for level in ("original", *LEVELS):
        assert any(c.startswith(f"{level}, called ") for c in caps), level
    assert any("(drawn), called" in c for c in caps) and any(c.startswith(("hand or object, called",
                                                                                      "hard negative, called"))
                                                                     for c in caps)
    assert all(len(m.label) <= 20 for m in at.metric)
    glance = next(f for f in frames if "real hand or object over an unmasked mouth: called with mask" in f.index)
    assert glance.loc["real hand or object over an unmasked mouth: called with mask", "seed"] == \
        f"{100 * hands.loc['hand_or_object', 'called_with_mask']:.1f} %"
