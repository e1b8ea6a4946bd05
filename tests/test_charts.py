"""The dashboard's figure builders (maskdash.charts): the data drawn is the data given, and the
details that carry meaning (reference line, step-shaped learning rate, row-normalised confusion,
highlighted window) are there."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest

from maskdash import charts

from maskdash.evaluation import shipped


@pytest.fixture
def histories() -> dict[str, pd.DataFrame]:
    robust = pd.DataFrame({
        "epoch": [1, 2, 3, 4], "stage": ["head", "head", "fine_tune", "fine_tune"],
        "loss": [0.6, 0.4, 0.3, 0.25], "accuracy": [0.80, 0.88, 0.91, 0.93],
        "val_loss": [0.3, 0.2, 0.15, 0.16], "val_accuracy": [0.90, 0.94, 0.96, 0.955],
        "lr": [1e-3, 1e-3, 1e-4, 1e-5], "epoch_seconds": [20.0, 19.5, 60.2, 61.0],
    })
    seed = pd.DataFrame({
        "epoch": [1, 2], "stage": ["head", "head"], "loss": [0.5, 0.3], "accuracy": [0.85, 0.9],
        "val_loss": [0.25, 0.2], "val_accuracy": [0.92, 0.93], "lr": [1e-3, 1e-3],
        "epoch_seconds": [10.0, 9.0],
    })
    return {"robust": robust, "seed": seed}


def test_training_curves_draw_train_and_validation_per_run(histories):
    fig = charts.training_curves(histories, "accuracy", reference=shipped.ORIGINAL_ACCURACY)
    assert isinstance(fig, go.Figure)
    names = [t.name for t in fig.data]
    assert names == ["robust · train", "robust · validation", "seed · train", "seed · validation"]
    assert list(fig.data[1].y) == list(histories["robust"]["val_accuracy"])
    assert fig.data[0].line.dash == "dash" and fig.data[1].line.dash == "solid"
    assert fig.data[0].line.color == fig.data[1].line.color != fig.data[2].line.color
    ref = [s for s in fig.layout.shapes if s.y0 == s.y1]
    assert len(ref) == 1 and ref[0].y0 == pytest.approx(0.9762)
    assert fig.layout.yaxis.tickformat == ".0%"


def test_loss_curves_have_no_reference_line(histories):
    fig = charts.training_curves(histories, "loss")
    assert len(fig.data) == 4 and not fig.layout.shapes
    assert list(fig.data[2].y) == [0.5, 0.3]


def test_curves_skip_missing_columns(histories):
    h = histories["robust"].copy()
    h["val_accuracy"] = np.nan
    fig = charts.training_curves({"robust": h}, "accuracy")
    assert [t.name for t in fig.data] == ["robust · train"]


def test_learning_rate_is_a_step_line_on_a_log_axis(histories):
    fig = charts.learning_rate(histories)
    assert [t.name for t in fig.data] == ["robust", "seed"]
    assert fig.data[0].line.shape == "hv"
    assert fig.layout.yaxis.type == "log"
    assert list(fig.data[0].y) == [1e-3, 1e-3, 1e-4, 1e-5]


def test_epoch_time_bars(histories):
    fig = charts.epoch_time(histories)
    assert all(isinstance(t, go.Bar) for t in fig.data)
    assert list(fig.data[0].y) == [20.0, 19.5, 60.2, 61.0]


def test_confusion_counts_and_row_normalised():
    cm = [[480, 3], [12, 497]]
    counts = charts.confusion(cm)
    assert counts.data[0].text[0][0] == "480" and counts.data[0].text[1][0] == "12"
    norm = charts.confusion(cm, normalize=True)
    z = np.asarray(norm.data[0].z)
    assert np.allclose(z.sum(axis=1), 1.0)
    assert z[0, 0] == pytest.approx(480 / 483)
    assert norm.data[0].text[1][1] == f"{497 / 509:.1%}"
    assert list(norm.data[0].x) == ["with_mask", "without_mask"]
    assert norm.layout.yaxis.autorange == "reversed"  # truth rows read top-down


def test_confusion_of_three_classes_is_three_by_three():
    # rows truth, columns prediction, in CLASSES3 order: with_mask, without_mask, mask_incorrect
    cm = [[90, 2, 8], [1, 95, 4], [20, 10, 30]]
    fig = charts.confusion(cm, normalize=True)
    z = np.asarray(fig.data[0].z)
    assert z.shape == (3, 3) and np.allclose(z.sum(axis=1), 1.0)
    assert list(fig.data[0].x) == list(fig.data[0].y) == ["with_mask", "without_mask", "mask_incorrect"]
    assert z[2, 0] == pytest.approx(20 / 60)  # truth mask_incorrect, predicted with_mask
    assert charts.confusion(cm).data[0].text[2][2] == "30"
    assert list(charts.confusion([[1, 2], [3, 4]]).data[0].x) == ["with_mask", "without_mask"]  # binary stays 2×2
    with pytest.raises(ValueError):
        charts.confusion(cm, labels=["with_mask", "without_mask"])


def test_confusion_with_an_empty_row_has_no_nan():
    z = np.asarray(charts.confusion([[0, 0], [3, 7]], normalize=True).data[0].z)
    assert np.isfinite(z).all() and z[0].sum() == 0


def test_roc_pr_and_calibration_from_real_curve_points():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 400)
    p = np.clip(y * 0.6 + rng.normal(0.2, 0.2, 400), 0, 1)
    pts = shipped.roc_points(y, p)
    fig = charts.roc({"robust": pts}, {"robust": 0.93}, marks={"robust": (0.1, 0.9)})
    assert fig.data[0].name == "chance"
    assert fig.data[1].name == "robust (AUC 0.9300)"
    assert list(fig.data[1].x) == list(pts["fpr"])
    assert fig.data[2].x == (0.1,) and fig.data[2].y == (0.9,)

    pr = shipped.pr_points(y, p)
    fig = charts.precision_recall({"seed": pr})
    assert list(fig.data[0].y) == list(pr["precision"])

    rel = shipped.reliability(y, p)
    fig = charts.calibration({"robust": rel, "empty": rel.iloc[0:0]})
    assert [t.name for t in fig.data] == ["perfectly calibrated", "robust"]
    assert list(fig.data[1].customdata) == list(rel["count"])
    shown = [(x, t) for x, t in zip(fig.data[1].x, fig.data[1].text) if t]
    assert shown and all(b[0] - a[0] >= 0.08 for a, b in zip(shown, shown[1:]))  # labels never overprint
    from maskdash.charts.pages import _spaced_labels

    assert _spaced_labels([0.55, 0.5, 0.7, 0.1, 0.56], list("abcde")) == ["", "b", "c", "d", ""]


def test_probability_histogram_one_panel_per_run_with_threshold():
    df = pd.DataFrame({"truth": ["with_mask"] * 3 + ["without_mask"] * 2, "p_mask": [1.0, 0.8, 0.4, 0.1, 0.6]})
    fig = charts.probability_histogram({"robust": df, "seed": df}, threshold=0.7)
    assert len(fig.data) == 4
    assert fig.data[0].name == "with_mask" and len(fig.data[0].x) == 3
    assert max(fig.data[0].x) < fig.data[0].xbins.end  # a certain p = 1.0 still lands in the last bin
    assert sum(1 for s in fig.layout.shapes if s.x0 == 0.7) == 2


def test_grid_shows_values_and_outlines_the_window():
    img = np.arange(36).reshape(6, 6)
    fig = charts.grid(img, "input", highlight=(1, 2, 3, 3))
    assert fig.data[0].text[1][2] == "8"
    (rect,) = fig.layout.shapes
    assert (rect.x0, rect.x1, rect.y0, rect.y1) == (1.5, 4.5, 0.5, 3.5)


def test_feature_maps_one_panel_per_channel():
    maps = np.random.default_rng(1).random((14, 14, 32)).astype(np.float32)
    fig = charts.feature_maps(maps, [0, 5, 9, 31, 2], cols=4)
    assert len(fig.data) == 5
    assert np.allclose(np.asarray(fig.data[3].customdata), maps[..., 31])  # raw activations in the hover
    ch = maps[..., 31]
    assert np.allclose(np.asarray(fig.data[3].z), (ch - ch.min()) / (ch.max() - ch.min()))
    assert [a.text for a in fig.layout.annotations][:2] == ["channel 0", "channel 5"]
    with pytest.raises(ValueError):
        charts.feature_maps(np.zeros((4, 4)))


def test_probe_bars():
    t = pd.DataFrame({"width (px)": [32, 64], "with_mask": [0.5, 0.9], "without_mask": [0.99, 0.98]})
    fig = charts.probe_bars(t, "width (px)", "resolution")
    assert [b.name for b in fig.data] == ["with_mask", "without_mask"]
    assert list(fig.data[0].x) == ["32", "64"]


def test_probe_bars_show_the_error_rate_with_counts():
    t = pd.DataFrame({"width (px)": [32, 64], "with_mask": [0.5, 0.9], "without_mask": [0.99, 0.98]})
    fig = charts.probe_bars(t, "width (px)", "resolution", n={"with_mask": 200, "without_mask": 300}, y_max=0.6)
    assert list(fig.data[0].y) == pytest.approx([0.5, 0.1]) and list(fig.data[1].y) == pytest.approx([0.01, 0.02])
    assert list(fig.data[1].text) == ["1.0% (3)", "2.0% (6)"]  # share wrong and faces wrong
    assert "6 of 300 faces" in fig.data[1].customdata[1]
    assert "n: 200 with_mask, 300 without_mask" in fig.layout.title.text
    assert tuple(fig.layout.yaxis.range) == (0, 0.6) and fig.layout.yaxis.title.text == "share wrong"


def test_feature_maps_share_one_colour_bar_and_survive_a_flat_map():
    maps = np.zeros((7, 7, 3), np.float32)
    maps[..., 1] = np.arange(49).reshape(7, 7) * 100.0  # raw scales differ by orders of magnitude
    maps[..., 2] = np.arange(49).reshape(7, 7) * 0.01
    fig = charts.feature_maps(maps, [0, 1, 2])
    assert all(t.coloraxis == "coloraxis" and t.showscale is None for t in fig.data)
    assert fig.layout.coloraxis.cmin == 0 and fig.layout.coloraxis.cmax == 1
    assert fig.layout.coloraxis.colorbar.ticktext == ("weakest", "half", "strongest")
    assert np.all(np.asarray(fig.data[0].z) == 0)  # flat: no division by zero
    assert np.allclose(np.asarray(fig.data[1].z), np.asarray(fig.data[2].z))  # same pattern, same colours


@pytest.mark.parametrize("last, ticks", [(1, [1]), (7, [1, 2, 3, 4, 5, 6, 7]),
                                         (30, [1, 5, 10, 15, 20, 25, 30]), (23, [1, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 23])])
def test_epoch_ticks_are_integers_from_one_to_the_last_epoch(last, ticks):
    assert charts.epoch_ticks(last) == ticks


def test_epoch_axes_are_upright_integer_ticks(histories):
    for fig in (charts.training_curves(histories, "loss"), charts.learning_rate(histories), charts.epoch_time(histories)):
        assert list(fig.layout.xaxis.tickvals) == [1, 2, 3, 4]
        assert fig.layout.xaxis.tickangle == 0


def test_overlapping_curves_differ_in_style_and_get_a_zoomed_inset():
    y = np.array([1] * 50 + [0] * 50)
    p = np.r_[np.linspace(0.6, 1, 50), np.linspace(0, 0.55, 50)]  # both perfect: identical curves
    pts, pr = shipped.roc_points(y, p), shipped.pr_points(y, p)
    for fig in (charts.roc({"robust": pts, "seed": pts}, marks={"robust": (0, 1), "seed": (0, 1)}),
                charts.precision_recall({"robust": pr, "seed": pr}, marks={"robust": (1, 1), "seed": (1, 1)})):
        main = [t for t in fig.data if t.xaxis in (None, "x") and t.name in ("robust", "seed")]
        assert main[0].line.dash != main[1].line.dash and main[0].line.width != main[1].line.width
        dots = [t for t in fig.data if t.xaxis in (None, "x") and "at threshold" in t.name]
        assert dots[0].marker.symbol != dots[1].marker.symbol
        inset = [t for t in fig.data if t.xaxis == "x2"]
        assert len(inset) == 4 and not any(t.showlegend for t in inset)
        assert fig.layout.xaxis2.range[1] - fig.layout.xaxis2.range[0] < 0.05  # zoomed in
    assert not [t for t in charts.roc({"robust": pts}, inset=False).data if t.xaxis == "x2"]
    # a curve far from the corner is visible as it is: no zoom
    weak = shipped.roc_points(y, np.r_[np.linspace(0.3, 1, 50), np.linspace(0, 0.7, 50)])
    assert not [t for t in charts.roc({"robust": pts, "seed": weak}).data if t.xaxis == "x2"]
    # few negatives: one miss is a step wider than the zoom, so a high AUC leaves the corner empty — no zoom
    y_few = np.array([1] * 400 + [0] * 40)
    p_few = np.r_[np.linspace(0.6, 1, 400), [0.99], np.linspace(0, 0.5, 39)]  # one no-mask face scored high
    few = shipped.roc_points(y_few, p_few)
    assert not [t for t in charts.roc({"robust": few}).data if t.xaxis == "x2"]


def test_calibration_labels_each_bin_with_its_count_and_drops_empty_bins():
    t = pd.DataFrame({"bin_low": [0.0, 0.5, 0.9], "bin_high": [0.1, 0.6, 1.0], "mean_p": [0.05, 0.55, 0.95],
                      "fraction_with_mask": [0.0, 0.5, 1.0], "count": [1200, 0, 7]})
    fig = charts.calibration({"robust": t})
    assert list(fig.data[1].x) == [0.05, 0.95]
    assert list(fig.data[1].text) == ["n=1,200", "n=7"]
