"""The metric functions against hand-computed values."""

import numpy as np
import pytest

from maskdash.evaluation.evaluate import expected_calibration_error, metrics, roc_auc


def test_metrics_by_hand():
    y = np.array([0, 0, 0, 1, 1])  # 0 = with_mask
    p = np.array([0.9, 0.8, 0.3, 0.2, 0.6])
    m = metrics(y, p)
    assert m["confusion"] == [[2, 1], [1, 1]]
    assert m["accuracy"] == pytest.approx(3 / 5)
    assert m["recall"]["with_mask"] == pytest.approx(2 / 3)
    assert m["precision"]["with_mask"] == pytest.approx(2 / 3)
    assert m["recall"]["without_mask"] == pytest.approx(1 / 2)
    assert m["balanced_accuracy"] == pytest.approx((2 / 3 + 1 / 2) / 2)
    # positives (mask) scores 0.9, 0.8, 0.3 vs negatives 0.2, 0.6: 5 of 6 pairs ordered
    assert m["roc_auc"] == pytest.approx(5 / 6)


def test_auc_ties_and_degenerate():
    assert roc_auc(np.array([1, 0]), np.array([0.5, 0.5])) == pytest.approx(0.5)
    assert roc_auc(np.array([1, 1]), np.array([0.1, 0.2])) is None


def test_calibration_error():
    y = np.zeros(100, int)
    assert expected_calibration_error(y, np.full(100, 1.0)) == pytest.approx(0.0)
    # always 90 % sure, right half the time → gap 0.4
    y = np.array([0] * 50 + [1] * 50)
    assert expected_calibration_error(y, np.full(100, 0.9)) == pytest.approx(0.4)
