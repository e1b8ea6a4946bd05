"""Each dashboard page run through Streamlit's AppTest, with the data folder and without it
(MASKDASH_DATA → an empty folder), and without committed reports (MASKDASH_REPORTS → an empty
folder). The assertions are about what the page shows: headers, figures that must equal the
committed metrics.json, the table contents."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from maskdash.model import convolution

from maskdash.evaluation import shipped

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


def _pct(v) -> str:
    return f"{100 * float(v):.2f} %"


# ---------------------------------------------------------------- the frame


def test_navigation_lists_the_pages_that_exist():
    at = open_page(None)
    expected = ["home", "live", "photos", "training", "evaluation", "failure_analysis", "how_it_works"]
    for name in expected:
        if (ROOT / "views" / f"{name}.py").is_file():
            at.switch_page(f"views/{name}.py")  # raises if st.navigation did not register it
    with pytest.raises(ValueError):
        at.switch_page("views/common.py")  # a helper module, not a page


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


def test_home_without_data_says_how_to_get_it(no_data):
    at = open_page(None)
    assert any("MASKDASH_DATA" in i.value for i in at.info)


def test_home_with_data_has_no_data_hint(fm12k):
    at = open_page(None)
    assert not any("MASKDASH_DATA" in i.value for i in at.info)


def test_home_without_reports(no_reports):
    at = open_page(None)
    assert any("metrics.json" in w.value for w in at.warning)
    assert "original (reported)" in at.dataframe[0].value.index


# ---------------------------------------------------------------- Training


def test_training_shows_curves_summary_and_cards():
    history = shipped.load_history("robust")
    assert history is not None, "models/robust/history.csv must be committed"
    at = open_page("views/training.py")
    assert [h.value for h in at.header] == ["Summary", "Loss and accuracy", "Learning rate and epoch time", "Model cards"]
    summary = at.dataframe[0].value
    assert summary.loc["robust (shipped)", "epochs"] == len(history)
    assert len(at.get("plotly_chart")) == 4
    card = shipped.load_model_card("robust")
    if card:
        first_line = next(line for line in card.splitlines() if line.strip())
        assert any(first_line.lstrip("# ").strip() in m.value for m in at.markdown)


def test_training_without_reports(no_reports):
    at = open_page("views/training.py")
    warnings = [w.value for w in at.warning]
    assert len(warnings) == 2 and all("history.csv" in w for w in warnings)
    assert [h.value for h in at.header] == ["Model cards"]
    assert not at.get("plotly_chart")


# ---------------------------------------------------------------- Evaluation


def test_evaluation_matches_metrics_json_and_follows_the_threshold(robust_metrics):
    at = open_page("views/evaluation.py")
    assert at.selectbox[0].value == "test"
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


def test_evaluation_without_data_says_how_to_get_it(no_data, robust_metrics):
    at = open_page("views/evaluation.py")
    assert [h.value for h in at.header][-1] == "Mistakes at this threshold"
    assert any("MASKDASH_DATA" in i.value for i in at.info)
    assert not at.get("image")


def test_evaluation_with_data_shows_the_mistakes(fm12k, robust_metrics):
    at = open_page("views/evaluation.py")
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
    glossary = _texts(at)
    for term in ("Epoch", "Hyper-parameter", "Learning rate", "Training vs validation accuracy", "Overfitting",
                 "Callback", "ReduceLROnPlateau", "EarlyStopping", "Transfer learning", "MobileNetV2",
                 "Feature extraction", "CNN", "Convolution", "Data augmentation"):
        assert f"**{term}" in glossary, term


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
