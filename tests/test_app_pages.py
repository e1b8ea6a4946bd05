"""Each dashboard page run through Streamlit's AppTest, with the data folder and without it
(MASKDASH_DATA → an empty folder), and without committed reports (MASKDASH_REPORTS → an empty
folder). The assertions are about what the page shows: headers, figures that must equal the
committed metrics.json, the table contents."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import numpy as np
import pytest
import streamlit
from streamlit.testing.v1 import AppTest

from media import downloaded
from maskdash import settings
from maskdash.evaluation import shipped
from maskdash.labels import CLASSES3
from maskdash.model import convolution
from maskdash.model.runtime import load_classifier

ROOT = Path(__file__).resolve().parent.parent
TIMEOUT = 240  # the first run in a process imports TensorFlow and loads models on a small CPU


def open_page(page: str | None) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT)
    at.run()
    assert not at.exception, at.exception
    if page:
        at.switch_page(page)
        at.run()
        assert not at.exception, at.exception
    return at


@pytest.fixture
def no_data(tmp_path, monkeypatch):
    empty = tmp_path / "no_data"
    empty.mkdir()
    monkeypatch.setenv("MASKDASH_DATA", str(empty))
    return empty


@pytest.fixture
def no_reports(tmp_path, monkeypatch):
    empty = tmp_path / "no_reports"
    empty.mkdir()
    monkeypatch.setenv("MASKDASH_REPORTS", str(empty))
    return empty


@pytest.fixture(scope="module")
def robust_metrics() -> dict:
    m = shipped.load_metrics("robust")
    assert m is not None, "models/robust/metrics.json must be committed"
    return m


def _texts(at: AppTest) -> str:
    parts = [e.value for kind in ("markdown", "caption", "info", "warning", "error") for e in getattr(at, kind)]
    return "\n".join(str(p) for p in parts)


def _pct(v, digits: int = 2) -> str:
    return f"{100 * float(v):.{digits}f} %"


def _figure(at: AppTest, key: str) -> dict:
    """The plotly figure of the chart with this widget key, as the browser receives it."""
    for chart in at.get("plotly_chart"):
        if chart.proto.id.endswith(f"-{key}"):
            return json.loads(chart.proto.spec)
    raise KeyError(key)


def _arr(value) -> np.ndarray:
    """A figure's data array: plotly sends NumPy arrays as {"dtype", "bdata" (base64), "shape"}."""
    if isinstance(value, dict) and "bdata" in value:
        out = np.frombuffer(base64.b64decode(value["bdata"]), dtype=np.dtype(value["dtype"]))
        return out.reshape([int(v) for v in str(value.get("shape", len(out))).split(",")])
    return np.asarray(value)


# ---------------------------------------------------------------- the frame


def test_navigation_lists_the_pages_that_exist():
    at = open_page(None)
    expected = ["home", "live", "photos", "training", "evaluation", "failure_analysis", "how_it_works"]
    for name in expected:
        if (ROOT / "views" / f"{name}.py").is_file():
            at.switch_page(f"views/{name}.py")  # raises if st.navigation did not register it
    with pytest.raises(ValueError):
        at.switch_page("views/common.py")  # a helper module, not a page


def test_browser_tab_icon_is_a_file_of_the_app(monkeypatch):
    """The favicon is served by the app itself; a ":material/…" icon is fetched from Google's servers."""
    seen = []
    original = streamlit.set_page_config

    def recording(*args, **kwargs):
        seen.append(kwargs.get("page_icon"))
        return original(*args, **kwargs)

    monkeypatch.setattr(streamlit, "set_page_config", recording)
    open_page(None)
    assert seen, "app.py must set the page config"
    icon = Path(str(seen[0]))
    assert not str(seen[0]).startswith(":") and icon.is_file()
    assert icon.resolve().is_relative_to(ROOT) and icon.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_sidebar_says_how_to_get_the_data(no_data):
    at = open_page(None)
    note = " ".join(c.value for c in at.sidebar.caption)
    assert "MASKDASH_DATA" in note and str(no_data) in note


# ---------------------------------------------------------------- Home


def test_home_shows_the_shipped_models_figures(robust_metrics):
    at = open_page(None)
    assert [t.value for t in at.title] == ["MaskDash"]
    assert [h.value for h in at.header] == ["The shipped model at a glance", "Where to go next"]
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Test accuracy (robust, shipped)"] == _pct(robust_metrics["sets"]["test"]["accuracy"])
    assert metrics["Original system (reported)"] == "97.62 %"
    table = at.dataframe[0].value
    assert table.loc["robust (shipped)", "Test accuracy"] == _pct(robust_metrics["sets"]["test"]["accuracy"])
    assert table.loc["original (reported)", "Validation"] == "97.62 %"
    links = {p.proto.page for p in at.get("page_link")}
    pages = ("live", "photos", "training", "evaluation", "failure_analysis", "how_it_works")
    assert links == {name for name in pages if (ROOT / "views" / f"{name}.py").is_file()}


def test_home_explains_the_test_gap_and_shows_the_whole_pipeline(robust_metrics):
    seed = shipped.load_metrics("seed")
    assert seed is not None, "models/seed/metrics.json must be committed"
    at = open_page(None)
    (why,) = [m.value for m in at.markdown if "on Test and the shipped model" in m.value]
    assert why.count(". ") == 0 and why.endswith(".")  # one sentence
    assert _pct(seed["sets"]["test"]["accuracy"]) in why and _pct(robust_metrics["sets"]["test"]["accuracy"]) in why
    for reason in ("real street photos", "small faces", "objects over the mouth"):
        assert reason in why, reason
    assert _pct(robust_metrics["sets"]["dev_scenes_holdout"]["balanced_accuracy"], 1) in why
    # the whole-pipeline figures: the photo detector + classifier on the holdout, all faces
    # (python -m maskdash scenes --fold holdout --json models/robust/scenes_holdout.json)
    scenes = shipped.load_scenes("robust")
    assert scenes is not None, "models/robust/scenes_holdout.json must be committed"
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Found and labelled right"] == _pct(scenes["all"]["right_share"], 1)
    assert metrics["Faces found on real photos"] == _pct(scenes["all"]["found"] / scenes["all"]["n"], 1)
    from maskdash.inference.detection import LABELS

    assert any(f"Detector: {LABELS[scenes['detector']]}." in c.value and "crop figures" in c.value for c in at.caption)
    assert metrics["Real photos, holdout (balanced)"] == _pct(robust_metrics["sets"]["dev_scenes_holdout"]["balanced_accuracy"])


def test_home_without_data_says_how_to_get_it(no_data):
    at = open_page(None)
    assert any("MASKDASH_DATA" in i.value for i in at.info)


def test_home_with_data_has_no_data_hint(fm12k):
    at = open_page(None)
    assert not any("MASKDASH_DATA" in i.value for i in at.info)


def _image_captions(at) -> list[str]:
    return [img.caption for el in at.get("image") for img in el.proto.imgs]


def test_home_shows_the_app_at_work_on_a_real_photo(dev_scenes):
    """The first screen: the project's own output on a dev holdout photo, made from the data."""
    from views.home import EXAMPLE_SCENE

    from maskdash.data.datasets import scene_fold

    assert scene_fold(EXAMPLE_SCENE) == "holdout"  # a photo the model never learnt from
    at = open_page(None)
    assert not at.exception
    (caption,) = [c for c in _image_captions(at) if "What the Photos page does" in c]
    found = int(caption.split(": ")[1].split(" faces found")[0])
    assert found >= 5  # nine people, most masked, in this photo
    # Every face is counted once, in its own colour: a mask below the nose is not "without".
    import re

    parts = {c: int(n) for n, c in re.findall(r"(\d+) with(?:out)?[^(]*\((green|orange|red)\)", caption)}
    assert "green" in parts and "red" in parts and sum(parts.values()) == found, caption


def test_home_without_data_has_no_example_picture(no_data):
    at = open_page(None)
    assert not at.exception
    assert not any("What the Photos page does" in c for c in _image_captions(at))


def test_home_without_reports(no_reports):
    at = open_page(None)
    assert any("metrics.json" in w.value for w in at.warning)
    assert "original (reported)" in at.dataframe[0].value.index


# ---------------------------------------------------------------- Training


def test_training_shows_curves_summary_and_cards():
    history = shipped.load_history("robust")
    assert history is not None, "models/robust/history.csv must be committed"
    at = open_page("views/training.py")
    assert [h.value for h in at.header] == ["Summary", "Loss and accuracy", "Learning rate and epoch time", "Model cards",
                                            "Export the shipped model"]
    summary = at.dataframe[0].value
    assert summary.loc["robust (shipped)", "epochs"] == len(history)
    assert len(at.get("plotly_chart")) == 4
    card = shipped.load_model_card("robust")
    if card:
        first_line = next(line for line in card.splitlines() if line.strip())
        assert any(first_line.lstrip("# ").strip() in m.value for m in at.markdown)
    # The photo face detector's card too (models/facehead/, committed).
    assert "face head (the photo pipeline's face detector)" in [h.value for h in at.subheader]
    assert any("Face head — model card" in m.value for m in at.markdown)


def test_training_says_what_each_accuracy_is_measured_on(robust_metrics):
    at = open_page("views/training.py")
    summary = at.dataframe[0].value
    # the saved model on the whole Validation split: the figure Home and Evaluation show
    assert summary.loc["robust (shipped)", "Validation acc., kept model"] == _pct(
        robust_metrics["sets"]["validation"]["accuracy"])
    assert "final train accuracy" not in summary.columns
    captions = " ".join(c.value for c in at.caption)
    args = shipped.load_args("robust")
    if shipped.validated_on_pack(args):  # the online run on a pack logged each epoch's last batch
        assert "last batch of 105 faces" in captions and "training pack's copy of Validation" in captions
    else:  # the shipped three-class run: the cached feed, the whole Validation split
        assert "**robust**: train accuracy and loss are the mean over the epoch's augmented training images" in captions
        assert "the whole Validation split as on disk" in captions


def test_training_learning_rate_caption_follows_each_runs_schedule():
    at = open_page("views/training.py")
    (caption,) = [c.value for c in at.caption if "learning" in c.value.lower() or "decay" in c.value]
    robust, seed = caption.split("**seed**")
    # the shipped robust model was fine-tuned on the cached feed from an earlier model: no head
    # epochs and a plateau schedule (the caption once described a cosine decay and "0 head
    # epochs" for it)
    args = json.loads((settings.MODELS_DIR / "robust" / "args.json").read_text())
    assert args["schedule"] == "plateau" and args["head_epochs"] == 0
    assert "ReduceLROnPlateau" in robust and "cosine" not in robust and "0 head epochs" not in robust
    assert f"{args['fine_tune_lr']:g}" in robust
    assert "ReduceLROnPlateau" in seed


def test_training_cards_leave_out_the_developer_notes():
    at = open_page("views/training.py")
    shown = "\n".join(m.value for m in at.markdown)
    assert "Model card: MaskDash `robust`" in shown and "## Results" in shown.replace("#### Results", "## Results")
    for note in ("leased", "64 MiB", "one-off script", "/work/", "/tmp/"):
        assert note not in shown, note
    assert all(note not in c.value for c in at.code for note in ("/work/", "/tmp/"))
    assert [e.label for e in at.expander].count("Model card") == len(shipped.RECIPES) + 1  # + the face head


def test_training_exports_the_shipped_model(media_managers, tmp_path):
    at = open_page("views/training.py")
    buttons = {b.label: b for b in at.download_button}
    tflite = next(b for label, b in buttons.items() if label.startswith("model.tflite"))
    assert any(label.startswith("model.keras") for label in buttons)
    path = tmp_path / "downloaded.tflite"
    path.write_bytes(downloaded(media_managers, tflite))
    clf = load_classifier(path, warm_up=0)  # checks the file: N×224×224×3 in, N×2 or N×3 out
    assert clf.input_size == 224 and clf.units == 3
    assert clf.probabilities(np.zeros((1, 224, 224, 3), np.uint8)).shape == (1, 3)
    labels = downloaded(media_managers, buttons["labels.txt"]).decode()
    assert labels.splitlines() == list(CLASSES3)
    spec = json.loads(downloaded(media_managers, buttons["input.json"]))
    assert spec["input"]["shape"] == [1, 224, 224, 3] and spec["input"]["value_range"] == [0, 255]
    assert spec["input"]["color_order"] == "RGB" and spec["output"]["labels"] == labels.splitlines()


def test_training_without_reports(no_reports):
    at = open_page("views/training.py")
    warnings = [w.value for w in at.warning]
    assert len(warnings) == 2 and all("history.csv" in w for w in warnings)
    assert [h.value for h in at.header] == ["Model cards"]
    assert not at.get("plotly_chart")


# ---------------------------------------------------------------- Evaluation


def test_evaluation_matches_metrics_json_and_follows_the_threshold(robust_metrics):
    at = open_page("views/evaluation.py")
    assert at.selectbox[0].value == "dev_scenes_holdout"  # the default: the set that tells the story
    at.selectbox[0].set_value("test").run()
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Accuracy · robust"] == _pct(robust_metrics["sets"]["test"]["accuracy"])
    table = at.dataframe[0].value
    n = robust_metrics["sets"]["test"]["n"]
    assert table.loc["faces (n)", "robust (shipped)"] == f"{n:,}"
    assert table.loc["ROC AUC", "robust (shipped)"] == f"{robust_metrics['sets']['test']['roc_auc']:.4f}"
    assert [h.value for h in at.header][:2] == ["Metrics at threshold 0.50", "Confusion matrices"]

    at.slider[0].set_value(0.9).run()
    expected = shipped.metrics_at(shipped.load_predictions("robust", "test"), 0.9)
    assert at.header[0].value == "Metrics at threshold 0.90"
    assert {m.label: m.value for m in at.metric}["Accuracy · robust"] == _pct(expected["accuracy"])
    assert at.dataframe[0].value.loc["recall with_mask", "robust (shipped)"] == _pct(expected["recall"]["with_mask"])


def test_evaluation_other_sets(robust_metrics):
    at = open_page("views/evaluation.py")
    options = at.selectbox[0].options
    for name in robust_metrics["sets"]:
        assert shipped.SET_TITLES.get(name, name) in options
    for name in robust_metrics["sets"]:
        at.selectbox[0].set_value(name).run()
        assert not at.exception, name
        assert at.header[0].value == "Metrics at threshold 0.50"
        shown = {m.label: m.value for m in at.metric}["Accuracy · robust"]
        assert shown == _pct(robust_metrics["sets"][name]["accuracy"]), name


def test_evaluation_defaults_to_real_photos(robust_metrics):
    at = open_page("views/evaluation.py")
    assert at.selectbox[0].value == "dev_scenes_holdout"
    shown = {m.label: m.value for m in at.metric}["Accuracy · robust"]
    assert shown == _pct(robust_metrics["sets"]["dev_scenes_holdout"]["accuracy"])


def test_evaluation_figures_follow_the_widgets():
    at = open_page("views/evaluation.py")
    for set_name, threshold in (("validation", 0.9), ("dev_scenes_holdout", 0.3), ("test", 0.5)):
        at.selectbox[0].set_value(set_name).run()
        at.slider[0].set_value(threshold).run()
        assert not at.exception
        for recipe in shipped.RECIPES:
            df = shipped.load_predictions(recipe, set_name)
            if df is None:
                continue
            m = shipped.metrics_at(df, threshold)
            roc = _figure(at, "roc")
            (dot,) = [t for t in roc["data"] if t.get("name") == f"{recipe} at threshold" and t.get("xaxis", "x") == "x"]
            assert _arr(dot["x"])[0] == pytest.approx(1 - m["recall"]["without_mask"]), (set_name, recipe)
            assert _arr(dot["y"])[0] == pytest.approx(m["recall"]["with_mask"]), (set_name, recipe)
            counts = _arr(_figure(at, f"cm_{recipe}")["data"][0]["z"])
            assert np.array_equal(counts, np.asarray(m["confusion"])), (set_name, recipe)
        hist = _figure(at, "hist")
        assert all(shape["x0"] == pytest.approx(threshold) for shape in hist["layout"]["shapes"])


def test_evaluation_curves_stay_apart_and_calibration_shows_counts():
    at = open_page("views/evaluation.py")
    at.selectbox[0].set_value("test").run()
    roc = _figure(at, "roc")
    curves = [t for t in roc["data"] if "AUC" in t.get("name", "") and t.get("xaxis", "x") == "x"]
    assert len({t["line"]["dash"] for t in curves}) == len(curves) == 2
    assert "xaxis2" in roc["layout"]  # the zoomed inset
    cal = _figure(at, "cal")
    runs = [t for t in cal["data"] if t.get("name") in shipped.RECIPES]
    n = shipped.metrics_at(shipped.load_predictions("robust", "test"))["n"]
    robust = next(t for t in runs if t["name"] == "robust")
    counts = _arr(robust["customdata"])
    assert counts.sum() == n and (counts > 0).all()
    assert [f"n={c:,}" for c in counts] == list(robust["text"])
    captions = " ".join(c.value for c in at.caption)
    assert "Dots mark the current threshold" not in captions
    assert "does not depend on the threshold" in captions


def test_evaluation_probes_show_error_rates_with_n(robust_metrics):
    at = open_page("views/evaluation.py")
    fig = _figure(at, "res_robust")
    conf = robust_metrics["sets"]["test"]["confusion"]
    probe = robust_metrics["probes"]["resolution"]
    bars = {t["name"]: t for t in fig["data"]}
    for i, cls in enumerate(("with_mask", "without_mask")):
        widths = sorted(probe, key=int)
        assert _arr(bars[cls]["y"]) == pytest.approx([1 - probe[w][cls] for w in widths])
        wrong = round((1 - probe[widths[0]][cls]) * sum(conf[i]))
        assert bars[cls]["text"][0].endswith(f"({wrong})")
        assert f"{sum(conf[i]):,} {cls}" in fig["layout"]["title"]["text"]  # n
    assert fig["layout"]["yaxis"]["title"]["text"] == "share wrong"


def test_evaluation_shows_the_whole_pipeline_by_face_height():
    scenes = shipped.load_scenes("robust")
    assert scenes is not None, "models/robust/scenes_holdout.json must be committed"
    at = open_page("views/evaluation.py")
    assert "Whole photo pipeline by face height" in [h.value for h in at.header]
    fig = _figure(at, "scenes_by_height")
    bars = {t["name"]: t for t in fig["data"]}
    assert list(bars) == ["all faces", "with_mask", "without_mask", "mask_incorrect"]
    bins = [b["bin"] for b in scenes["by_height"]]
    assert bins == ["0-12", "12-16", "16-24", "24-32", "32-48", "48+"]
    assert [x.split("<br>")[0] for x in bars["all faces"]["x"]] == [f"{b} px" for b in bins]
    assert bars["all faces"]["x"][0].endswith(f"n={scenes['by_height'][0]['n']} ("  # n of each bin on its tick
                                              + " / ".join(str(scenes["by_height"][0]["per_class"][c]["n"]) for c in list(bars)[1:]) + ")")
    assert np.allclose(_arr(bars["all faces"]["y"]), [b["right_share"] for b in scenes["by_height"]])
    for cls in ("with_mask", "without_mask"):
        want = [b["per_class"][cls]["right_share"] for b in scenes["by_height"]]
        assert np.allclose(_arr(bars[cls]["y"]), want), cls
    assert any(scenes["detector"] in c.value and _pct(scenes["all"]["right_share"], 1) in c.value for c in at.caption)


def test_evaluation_without_the_scenes_report_leaves_the_chart_out(no_reports):
    at = open_page("views/evaluation.py")
    assert "Whole photo pipeline by face height" not in [h.value for h in at.header]


def test_evaluation_without_data_says_how_to_get_it(no_data, robust_metrics):
    at = open_page("views/evaluation.py")
    assert [h.value for h in at.header][-1] == "Mistakes at this threshold"
    assert any("MASKDASH_DATA" in i.value for i in at.info)
    assert not at.get("image")


def test_evaluation_with_data_shows_the_mistakes(fm12k, robust_metrics):
    at = open_page("views/evaluation.py")
    at.selectbox[0].set_value("test").run()
    wrong = sum(robust_metrics["sets"]["test"]["confusion"][i][1 - i] for i in range(2))
    assert any(m.value.startswith(f"**{wrong}** of ") for m in at.markdown)
    assert len(at.get("image")) == min(wrong, 12)


def test_evaluation_without_reports(no_reports):
    at = open_page("views/evaluation.py")
    assert len(at.warning) == 2 and all("metrics.json" in w.value for w in at.warning)
    assert not at.selectbox


# ---------------------------------------------------------------- How it works


def test_how_it_works_convolution_explainer():
    at = open_page("views/how_it_works.py")
    assert [h.value for h in at.header] == [
        "The pipeline", "What a convolution does", "Inside the model: feature maps of a real face", "Glossary"]
    assert at.get("graphviz_chart")
    assert at.code[0].value.endswith("= 31")
    at.slider[0].set_value(2).run()  # output row
    at.slider[1].set_value(1).run()  # output column
    img, k = convolution.EXAMPLE_IMAGE, convolution.EXAMPLE_KERNEL
    assert at.code[0].value == convolution.arithmetic(img, k, 2, 1)
    at.selectbox[0].set_value("vertical edge").run()
    assert at.code[0].value == convolution.arithmetic(img, convolution.KERNELS["vertical edge"], 2, 1)
    # each entry is a heading with a fixed anchor (views.glossary.slug), so pages can link to it
    from views.glossary import slug

    entries = {h.value: h.proto.anchor for h in at.subheader}
    for term in ("Epoch", "Hyper-parameter", "Learning rate", "Training vs validation accuracy", "Overfitting",
                 "Callback", "ReduceLROnPlateau", "EarlyStopping", "Transfer learning", "MobileNetV2",
                 "Feature extraction", "CNN", "Convolution", "Data augmentation",
                 "Grad-CAM", "ROC / AUC", "Precision / recall", "Calibration / ECE", "Threshold", "Confusion matrix",
                 "Balanced accuracy", "Yaw", "TFLite", "BlazeFace / YuNet", "IoU", "NMS", "Tracking"):
        (name,) = [n for n in entries if n.startswith(term)]
        assert entries[name] == slug(name), term


def test_pages_link_their_first_use_of_a_term_to_the_glossary(fm12k):
    """Evaluation, Training, Photos and Failure analysis link terms to glossary anchors that exist."""
    import re

    from views.glossary import GLOSSARY, slug

    anchors = {slug(name) for terms in GLOSSARY.values() for name in terms}
    for page, expected in (("views/evaluation.py", {"threshold", "roc-auc", "balanced-accuracy"}),
                           ("views/training.py", {"epoch", "reducelronplateau"}),
                           ("views/photos.py", {"blazeface-yunet"}),
                           ("views/failure_analysis.py", {"grad-cam"})):
        at = open_page(page)
        assert not at.exception
        texts = _texts(at) + "\n".join(str(e.value) for e in at.get("markdown"))
        linked = set(re.findall(r"\(/how_it_works#(glossary-[a-z0-9-]+)\)", texts))
        assert linked and linked <= anchors, (page, linked - anchors)
        assert {f"glossary-{e}" for e in expected} <= linked, (page, linked)


def test_how_it_works_feature_maps_of_a_real_face(fm12k, shipped_model):
    at = open_page("views/how_it_works.py")
    assert at.radio[0].value == "a face from the data folder"
    charts = at.get("plotly_chart")
    assert len(charts) == 4  # three convolution grids + the feature maps
    assert any("p(with_mask)" == m.label for m in at.metric)
    layer = at.selectbox[1].value
    assert layer == "block_1_expand_relu"
    at.selectbox[1].set_value("out_relu").run()
    assert not at.exception
    assert len(at.get("plotly_chart")) == 4
    fmaps = _figure(at, "fmaps")  # the deep 7×7 maps: each scaled to its own range, with a colour bar
    assert fmaps["layout"]["coloraxis"]["colorbar"]["ticktext"][-1] == "strongest"
    for trace in fmaps["data"]:
        z = _arr(trace["z"]).astype(float)
        assert z.shape == (7, 7) and z.min() >= 0 and z.max() <= 1


def test_how_it_works_without_data_offers_upload(no_data):
    at = open_page("views/how_it_works.py")
    assert at.radio[0].options == ["upload a face photo"]
    assert any("MASKDASH_DATA" in i.value for i in at.info)
    assert len(at.get("plotly_chart")) == 3  # the convolution grids only, until a face is uploaded


# ---------------------------------------------------------------- Photos (uploads: test_photos_page.py)


def test_photos_page_before_any_upload():
    at = open_page("views/photos.py")
    assert [t.value for t in at.title] == ["Photos"]
    assert at.file_uploader[0].accept_multiple_files
    assert any("Drop one or more photos" in i.value for i in at.info)
    assert at.sidebar.selectbox[0].label == "Face detector"
