import math

import numpy as np
import pytest

from prodml.train import classification_metrics


def test_metrics_of_a_hand_computed_case():
    y = np.array([0, 0, 1, 1])
    score = np.array([0.1, 0.6, 0.4, 0.9])
    metrics = classification_metrics(y, score)
    # Of the 4 (negative, positive) pairs, 3 are ranked right: AUC 3/4.
    assert metrics["roc_auc"] == pytest.approx(0.75)
    assert metrics["brier"] == pytest.approx((0.01 + 0.36 + 0.36 + 0.01) / 4)
    assert metrics["accuracy"] == pytest.approx(0.5)  # 0.6 and 0.4 fall on the wrong side
    assert metrics["log_loss"] == pytest.approx(-np.mean(np.log([0.9, 0.4, 0.4, 0.9])))


def test_the_threshold_moves_accuracy_and_f1_only():
    y, score = np.array([0, 0, 1, 1]), np.array([0.1, 0.6, 0.4, 0.9])
    low = classification_metrics(y, score, threshold=0.3)
    assert low["accuracy"] == pytest.approx(0.75)
    assert low["f1"] == pytest.approx(0.8)
    assert low["roc_auc"] == classification_metrics(y, score)["roc_auc"]


def test_auc_is_undefined_not_zero_with_one_class():
    metrics = classification_metrics(np.zeros(10), np.full(10, 0.2))
    assert math.isnan(metrics["roc_auc"])
    assert math.isnan(metrics["pr_auc"])
    assert metrics["accuracy"] == 1.0
