"""The failure-analysis page through Streamlit's AppTest: with the data folder (gallery faces,
Grad-CAM on a gallery face and on an uploaded photo), without it (the committed tables and charts
plus how to get the data), and with no results at all.

The page reads a reports folder laid out like models/ (MASKDASH_REPORTS): built here from real
predictions of a real model on real faces, a small real `run_analysis` and a real audit."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

from maskdash.analysis.mistakes import mistakes
from maskdash.analysis.results import headlines
from maskdash.analysis.run import run_analysis
from maskdash.model.runtime import load_classifier
from maskdash.data.datasets import list_scenes, list_split, scene_fold
from maskdash.labels import CLASSES, INCORRECT
from maskdash.labels import CROP_MARGIN
from maskdash.imaging import crop_face, load_rgb, to_input
from test_analysis import analysis_model

ROOT = Path(__file__).resolve().parent.parent
PAGE = "views/failure_analysis.py"
TIMEOUT = 240  # the first Grad-CAM in a process imports TensorFlow and loads the model


@pytest.fixture(scope="module")
def reports_root(tmp_path_factory, fm12k, dev_scenes) -> Path:
    """<root>/robust/{model.keras, predictions_test.csv, predictions_dev_scenes.csv},
    <root>/analysis/robust/ and <root>/audit/ — all from real runs on real images."""
    root = tmp_path_factory.mktemp("reports")
    model_dir = root / "robust"
    model_dir.mkdir()
    (model_dir / "model.keras").symlink_to(analysis_model().resolve())
    clf = load_classifier(model_dir / "model.keras", engine="keras")

    test = list_split(fm12k, "Test")
    picked = [s for s in test if s.label == 0][:6] + [s for s in test if s.label == 1][:6]
    native = [load_rgb(s.path) for s in picked]
    p = clf.predict(np.stack([to_input(x) for x in native]))
    pd.DataFrame({
        "path": [s.path.relative_to(fm12k).as_posix() for s in picked],
        "truth": [CLASSES[s.label] for s in picked],
        "label": [CLASSES[0] if q >= 0.5 else CLASSES[1] for q in p],
        "p_mask": p, "width": [x.shape[1] for x in native],
    }).to_csv(model_dir / "predictions_test.csv", index=False)

    scenes, _ = list_scenes(dev_scenes)
    with_incorrect = [sc for sc in scenes if any(b.label == INCORRECT for b in sc.boxes) and len(sc.boxes) <= 6][:3]
    # and a few holdout-fold scenes: the lighting tab measures the holdout faces
    holdout = [sc for sc in scenes if scene_fold(sc.image_path) == "holdout" and len(sc.boxes) <= 6][:4]
    rows, crops = [], []
    for sc in with_incorrect + holdout:
        rgb = load_rgb(sc.image_path)
        for k, b in enumerate(sc.boxes):
            crops.append(crop_face(rgb, (b.x1, b.y1, b.x2, b.y2), CROP_MARGIN))
            rows.append({"path": sc.image_path.name, "face": k, "x1": int(b.x1), "y1": int(b.y1), "x2": int(b.x2),
                         "y2": int(b.y2), "truth": b.label, "fold": scene_fold(sc.image_path),
                         "height": int(b.height)})
    q = clf.predict(np.stack(crops))
    scene_df = pd.DataFrame(rows)
    scene_df.insert(len(scene_df.columns) - 1, "label", [CLASSES[0] if v >= 0.5 else CLASSES[1] for v in q])
    scene_df.insert(len(scene_df.columns) - 1, "p_mask", q)
    scene_df.to_csv(model_dir / "predictions_dev_scenes.csv", index=False)

    run_analysis(model_dir, fm12k.parent, root / "analysis" / "robust", progress=False, limit=8,
                 sweep_limit=4, engine="keras")

    # a real audit of a tiny folder: one Test file is a byte copy of a Train file
    from maskdash.data.audit import run_audit

    tiny = tmp_path_factory.mktemp("tiny_data")
    for rel, dest in (("Train/WithMask/10.jpg", "Train/WithMask/10.jpg"),
                      ("Train/WithMask/10.jpg", "Test/WithMask/copy_of_10.jpg"),
                      ("Train/WithoutMask/10.jpg", "Train/WithoutMask/10.jpg"),
                      ("Test/WithoutMask/1015.jpg", "Test/WithoutMask/1015.jpg")):
        (tiny / dest).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(fm12k / rel, tiny / dest)
    run_audit(tiny, root / "audit", progress=False)
    return root


@pytest.fixture
def reports_env(reports_root, monkeypatch) -> Path:
    monkeypatch.setenv("MASKDASH_REPORTS", str(reports_root))
    return reports_root


@pytest.fixture
def no_data(tmp_path, monkeypatch) -> Path:
    empty = tmp_path / "no_data"
    empty.mkdir()
    monkeypatch.setenv("MASKDASH_DATA", str(empty))
    return empty


def open_page() -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT)
    at.run()
    at.switch_page(PAGE)
    at.run()
    assert not at.exception, at.exception
    return at


def texts(at: AppTest) -> str:
    parts = [e.value for kind in ("markdown", "caption", "info", "warning", "error", "subheader") for e in getattr(at, kind)]
    return "\n".join(str(p) for p in parts)


def captions(at: AppTest) -> list[str]:
    return [c for img in at.image for c in img.captions]


def frames(at: AppTest) -> list[pd.DataFrame]:
    return [d.value for d in at.dataframe]


def test_failure_charts_draw_one_trace_per_model_and_class():
    from maskdash import charts

    bins = pd.DataFrame({"yaw_bin": ["0–15°"] * 3, "truth": ["all", *CLASSES], "n": [4, 2, 2],
                         "accuracy": [1.0, 1.0, 1.0], "mean_p_mask": [0.5, 0.9, 0.1]})
    two = {"robust": bins, "seed": bins}
    assert len(charts.yaw_accuracy(two).data) == 2 and len(charts.yaw_p_mask(two).data) == 4
    dist = bins.rename(columns={"yaw_bin": "width"}).assign(width=16)
    assert len(charts.distance_accuracy(two | {"robust": dist, "seed": dist}, (16, 224)).data) == 2
    light = bins.assign(kind="brightness", factor=0.5)
    fig = charts.lighting_accuracy({"robust": light}, "brightness", (0.5, 1.0))
    assert [t.name for t in fig.data] == ["robust · all", "robust · with_mask", "robust · without_mask"]
    assert fig.layout.yaxis.range == (0.5, 1.02)  # every value high: zoomed in so small drops show


# ---------------------------------------------------------------- without the data folder


def test_without_data_the_committed_results_are_shown(reports_env, no_data):
    at = open_page()
    shown = texts(at)
    assert "MASKDASH_DATA" in shown and str(no_data) in shown  # how to get the data
    assert at.title[0].value == "Failure analysis"
    glance = next(f for f in frames(at) if "no mask + hand: called with mask" in f.index)
    h = headlines(json.loads((reports_env / "analysis" / "robust" / "summary.json").read_text()))
    assert glance.loc["no mask + hand: called with mask", "robust"] == f"{100 * h['no mask + hand: called with mask']:.1f} %"
    # every study's charts are drawn from the committed tables
    assert len(at.get("plotly_chart")) >= 8
    summary = json.loads((reports_env / "analysis" / "robust" / "summary.json").read_text())
    occ = summary["studies"]["occluders"]["objects"]
    table = next(f for f in frames(at) if "robust" in f.columns and any(str(i).startswith("hand —") for i in f.index))
    hand_row = next(i for i in table.index if str(i).startswith("hand —"))
    assert table.loc[hand_row, "robust"] == f"{100 * occ['hand']['called_with_mask']:.1f} %"
    # the examples with their predictions, listed; their faces (and the gallery's) need the data
    listed = [str(e) for f in frames(at) if "example" in f.columns for e in f["example"]]
    assert "hand" in listed and any(e.startswith("yaw ") for e in listed)
    assert "cut from the data folder when it is present" in shown
    assert "Measuring the real dev-scene faces needs their photos" in shown  # the lighting tab, no data
    caps = captions(at)
    assert not any(c.startswith("hand ·") or c.startswith("yaw ") for c in caps)
    assert not any("→" in c for c in caps)
    # the gallery table still lists the mistakes from the predictions CSV
    preds = pd.read_csv(reports_env / "robust" / "predictions_test.csv")
    wrong = len(mistakes(preds, "test", 0.5))
    assert f"**{wrong} mistakes** among {len(preds)} faces" in shown
    # the audit: one exact duplicate group that crosses Train and Test
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["groups across splits"] == "1"
    audit_rows = next(f for f in frames(at) if "group" in f.columns and "kind" in f.columns)
    assert set(audit_rows["path"]) == {"Train/WithMask/10.jpg", "Test/WithMask/copy_of_10.jpg"}


def test_without_results_the_page_says_how_to_make_them(tmp_path, monkeypatch, no_data):
    monkeypatch.setenv("MASKDASH_REPORTS", str(tmp_path))
    at = open_page()
    shown = texts(at)
    assert "No failure-analysis results yet" in shown and "python -m maskdash analyze" in shown
    assert "No data audit yet" in shown
    assert not at.get("plotly_chart")


# ---------------------------------------------------------------- with the data folder


def test_gallery_shows_faces_and_gradcam(reports_env, fm12k):
    at = open_page()
    # the examples each study recorded, cut from the data, with their predictions
    caps = captions(at)
    assert any(c.startswith("hand ·") for c in caps) and any(c.startswith("yaw ") for c in caps)
    assert "confidence: the probability of the class the model called" in texts(at).lower()
    at.selectbox(key="gal_set").set_value("dev_scenes").run()
    assert not at.exception, at.exception
    preds = pd.read_csv(reports_env / "robust" / "predictions_dev_scenes.csv")
    expected = mistakes(preds, "dev_scenes", 0.5)
    assert f"**{len(expected)} mistakes** among {len(preds):,} faces" in texts(at)

    at.toggle(key="gal_correct").set_value(True).run()
    assert not at.exception, at.exception
    faces = [c for c in captions(at) if "→" in c]
    assert len(faces) == min(8, len(preds))
    truths = set(preds["truth"])
    assert all(c.split(" → ")[0] in truths for c in faces)

    at.toggle(key="gal_cam").set_value(True).run()
    assert not at.exception, at.exception
    cams = [c for c in captions(at) if "→" in c]
    assert cams and all(c.endswith("Grad-CAM") for c in cams)


def test_why_explains_a_gallery_face_and_an_uploaded_photo(reports_env, dev_scenes):
    at = open_page()
    at.toggle(key="gal_correct").set_value(True).run()  # the gallery then lists every face
    at.radio(key="why_origin").set_value("gallery").run()
    assert not at.exception, at.exception
    assert "Grad-CAM for its call" in " ".join(captions(at))
    assert "p(with_mask) =" in texts(at)

    at.radio(key="why_origin").set_value("upload").run()
    photo = sorted((dev_scenes / "images").glob("*.jpg"))[0].read_bytes()
    at.file_uploader(key="why_upload").set_value(("street.jpg", photo, "image/jpeg")).run()
    assert not at.exception, at.exception
    caps = " ".join(captions(at))
    assert "face(s) found" in caps and "Grad-CAM for with_mask" in caps
    said = [m.value for m in at.markdown if "p(with_mask) =" in m.value]
    p = float(said[0].split("p(with_mask) = ")[1])
    assert 0.0 <= p <= 1.0

    at.file_uploader(key="why_upload").set_value(("broken.jpg", b"not an image at all", "image/jpeg")).run()
    assert not at.exception, at.exception
    assert any("broken.jpg" in e.value and "not an image" in e.value for e in at.error)

    # a face the three-class model calls a mask below the nose (the first face of this dev photo)
    below = (dev_scenes / "images" / "maksssksksss272.jpg").read_bytes()
    at.file_uploader(key="why_upload").set_value(("below.jpg", below, "image/jpeg")).run()
    assert not at.exception, at.exception
    assert any("says **mask_incorrect**" in m.value for m in at.markdown), texts(at)
    # a picture with no face, far wider than tall: explained whole, at the classifier's 224 px
    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (10, 5000, 3), dtype=np.uint8)).save(buf, "PNG")
    at.file_uploader(key="why_upload").set_value(("strip.png", buf.getvalue(), "image/png")).run()
    assert not at.exception, at.exception
    assert "Grad-CAM for with_mask" in " ".join(captions(at))


def test_percentages_carry_their_n_and_tiny_bins_stand_apart():
    from maskdash import charts

    bins = pd.DataFrame({"yaw_bin": ["0–15°", "45°+"], "truth": ["all", "all"], "n": [40, 3],
                         "accuracy": [0.9, 0.0], "mean_p_mask": [0.5, 0.5]})
    fig = charts.yaw_accuracy({"robust": bins})
    bar = fig.data[0]
    assert list(bar.text) == ["n=40", "n=3"] and "n=%{customdata[0]}" in bar.hovertemplate
    assert list(bar.marker.opacity) == [1.0, 0.3]  # the 3-face bin is faded, still the model's colour
    # the legend sits at the figure's bottom edge, below the axis title, not on it
    assert fig.layout.legend.yref == "container" and fig.layout.legend.y == 0
    acc = pd.DataFrame({"size_bin": ["48–64", "64–96", "96–128"], "truth": ["without_mask"] * 3,
                        "n": [2, 67, 435], "accuracy": [0.0, 1.0, 1.0]})
    fig = charts.native_accuracy({"robust": acc})
    line = next(t for t in fig.data if t.name == "robust · truth without_mask")
    assert list(line.y) == [None, 1.0, 1.0] and list(line.customdata) == [2, 67, 435]  # off the line…
    few = next(t for t in fig.data if t.name == f"fewer than {charts.MIN_N} faces")
    assert list(few.x) == ["48–64"] and list(few.customdata) == [2] and "n=%{customdata}" in few.hovertemplate
    # two models at 100 %: the first one's lines are drawn last, on top, and listed first
    both = charts.native_accuracy({"robust": acc, "seed": acc})
    lines = [t.name for t in both.data if t.name.endswith("truth without_mask")]
    assert lines == ["seed · truth without_mask", "robust · truth without_mask"]
    assert both.layout.legend.traceorder == "reversed"
    seed = pd.DataFrame({"size_bin": ["0–32", "384+", "96–128"], "truth": ["with_mask"] * 3, "n": [50] * 3,
                         "accuracy": [1.0] * 3})
    mixed = charts.native_accuracy({"robust": acc, "seed": seed})  # the seed's trace, drawn first, lacks bins
    assert list(mixed.layout.xaxis.categoryarray) == ["0–32", "48–64", "64–96", "96–128", "384+"]
    dist = pd.DataFrame({"width": [16, 224], "truth": ["all", "all"], "n": [8, 8], "accuracy": [0.5, 1.0],
                         "mean_p_mask": [0.5, 0.5]})
    fig = charts.distance_accuracy({"robust": dist}, (16, 224))
    assert list(fig.data[0].customdata) == [8, 8] and "n=" in fig.data[0].hovertemplate


def test_angle_examples_follow_the_source_switch(reports_env, fm12k):
    """The turned faces shown are those the switch selects, and rows of the table beside them."""
    at = open_page()
    ex = pd.read_csv(reports_env / "analysis" / "robust" / "examples.csv")
    faces = pd.read_csv(reports_env / "analysis" / "robust" / "angles_faces.csv")

    def shown() -> list[str]:
        return sorted(c.split(" · ")[0] for c in captions(at) if c.startswith("yaw "))

    for source in ("test", "dev_scenes"):
        at.radio(key="angles_source").set_value(source).run()
        assert not at.exception, at.exception
        recorded = ex[(ex["study"] == "angles") & (ex["source"] == source)]
        assert shown() == sorted(recorded["detail"]) and len(recorded)
        table = next(f for f in frames(at) if "yaw" in f.columns and "p(mask) robust" in f.columns)
        mine = faces[(faces["source"] == source) & faces["detected"].astype(bool)]
        assert set(table["path"]) <= set(mine["path"])  # the table lists this source's faces …
        assert set(recorded["path"]) <= set(table["path"])  # … and the examples are among them


def test_lighting_shows_the_levels_and_real_dim_faces(reports_env, fm12k, dev_scenes):
    from maskdash.analysis import lighting as light
    from maskdash.analysis import studies

    at = open_page()
    caps = captions(at)
    for factors in (studies.BRIGHTNESS, studies.CONTRAST):  # the same face at every level
        assert all(f"×{f:g}" in caps for f in factors)
    preds = pd.read_csv(reports_env / "robust" / "predictions_dev_scenes.csv")
    holdout = preds[preds["fold"] == "holdout"]
    expected = light.dark_vs_rest(light.measure_faces(holdout, lambda p: dev_scenes / "images" / p), 0.5)
    table = next(f for f in frames(at) if "faces" in f.columns and "face luma" in f.columns)
    dark = table[(table["model"] == "robust") & (table["faces"] == "darkest 10%")].iloc[0]
    assert dark["n"] == expected.loc[0, "n"] and dark["accuracy"] == f"{100 * expected.loc[0, 'accuracy']:.1f} %"
    assert table[table["model"] == "robust"]["faces"].str.startswith("backlit").any()
    assert (f"**robust** is right on {100 * expected.loc[0, 'accuracy']:.1f} % of the darkest tenth of these real "
            f"faces against {100 * expected.loc[1, 'accuracy']:.1f} % of the rest") in texts(at)
    assert any(c.startswith("luma ") for c in caps)  # the darkest real faces, with their luma


def test_no_machine_paths_no_none_cells_and_short_labels(reports_env, fm12k):
    at = open_page()
    main = [str(e.value) for kind in ("markdown", "caption", "info", "warning", "error")
            for e in getattr(at.main, kind)]
    main += captions(at)
    for text in main:
        assert "/work/" not in text and str(reports_env) not in text and str(ROOT) not in text, text
    for f in frames(at):
        assert not f.isna().any().any(), f  # shown as "–", never "None"
    assert all(len(m.label) <= 20 for m in at.metric), [m.label for m in at.metric]
    # the tiny audit's one group spans two splits: the pair rows add up to the groups across splits
    assert "Every group across splits spans exactly two splits." in texts(at)


def test_the_committed_audit_explains_why_the_pairs_add_up_to_more():
    """models/audit: 56 groups span splits, the pair rows add up to 60 because two near groups
    have files in Test, Train and Validation, each counted in all three pairs."""
    from maskdash.evaluation import shipped
    from views.audit import pair_rows, pairs_note, spanning_all

    audit, dups = shipped.load_audit(), shipped.load_duplicates()
    s = audit["summary"]
    pairs = pair_rows(s)
    cross = sum(s[k]["cross_split_groups"] for k in ("exact", "near"))
    total = sum(p["groups"] for p in pairs)
    three = spanning_all(dups)
    per = dups.groupby(["kind", "group"])["split"].nunique()
    assert len(three) == int((per == 3).sum()) and total - cross == 2 * len(three)
    note = pairs_note(pairs, cross, dups)
    assert f"add up to {total}" in note and f"{total - cross} more than the {cross}" in note
    assert all(f"{k} group {g}" in note for k, g in three)


def test_the_real_hands_study_and_the_report_count_the_same_faces():
    """The Failure analysis page's real hands and the Evaluation page's "hand or object over an
    unmasked mouth" are one group of the extra faces' holdout (they once differed: 14 and 12 faces,
    the study counting scarves pulled up, which the product accepts as a covering)."""
    import pandas as pd

    from maskdash import settings

    metrics = json.loads((settings.MODELS_DIR / "robust" / "metrics.json").read_text())
    covered = metrics["extra_faces_holdout"]["hand_or_object_over_mouth"]
    study = pd.read_csv(settings.MODELS_DIR / "analysis" / "robust" / "hands_summary.csv").set_index("group")
    assert study.loc["hand_or_object", "n"] == covered["n"]
    assert study.loc["hand_or_object", "called_with_mask"] == pytest.approx(covered["called_with_mask"], abs=1e-4)
