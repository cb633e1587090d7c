"""CBPE: expected ROC AUC, accuracy and F1 from scores alone, each with the range the
window's realized figure should fall in, and the estimator's own error measured at
registration on held-out windows."""

import math

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, f1_score, roc_auc_score

from prodml.monitor.estimate import (
    ESTIMATED,
    calibrate,
    estimate,
    fit_estimator,
    realized_metrics,
)


def _world(rng, n: int, shift: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Scores of a monotone but uncalibrated model, and labels drawn from the truth
    P(y=1) = sigmoid(1.2 z − 1.3); `shift` moves the inputs only (covariate shift)."""
    z = rng.normal(shift, 1.0, n)
    y = (rng.random(n) < 1 / (1 + np.exp(-(1.2 * z - 1.3)))).astype(float)
    return 1 / (1 + np.exp(-z)), y


def _covered(found: dict[str, float], truth: dict[str, float], metric: str) -> bool:
    return found[f"{metric}.low"] <= truth[metric] <= found[f"{metric}.high"]


def test_the_range_holds_the_realized_figures_at_about_its_nominal_rate(rng):
    estimator = calibrate(*_world(rng, 8_000), measure=False)
    held = dict.fromkeys(ESTIMATED, 0)
    windows = 60
    for i in range(windows):
        score, y = _world(rng, 1_000, shift=0.5)
        found = estimate(estimator, score, score >= 0.5, seed=i)
        truth = realized_metrics(y, score, score >= 0.5)
        for metric in ESTIMATED:
            held[metric] += _covered(found, truth, metric)
    # 95 % nominal; seeded, and the bound generous, so chance cannot fail it.
    assert all(count >= 0.8 * windows for count in held.values()), held


def test_a_small_window_gets_a_wider_range_than_a_large_one(rng):
    estimator = calibrate(*_world(rng, 8_000), measure=False)
    width = {}
    for n in (300, 10_000):
        score, _ = _world(rng, n)
        found = estimate(estimator, score, score >= 0.5)
        assert found["roc_auc.low"] < found["roc_auc"] < found["roc_auc.high"]
        width[n] = found["roc_auc.high"] - found["roc_auc.low"]
    assert width[300] > 2 * width[10_000]


def test_an_estimator_from_before_ranges_still_gets_one_from_chance_alone(rng):
    score, y = _world(rng, 5_000)
    old = fit_estimator(score, y)  # what references stored before: the map only
    full = calibrate(score, y, measure=False)
    window, _ = _world(rng, 2_000)
    found, with_refits = (estimate(e, window, window >= 0.5) for e in (old, full))
    assert found["roc_auc"] == pytest.approx(with_refits["roc_auc"])
    assert found["roc_auc.low"] < found["roc_auc"] < found["roc_auc.high"]
    # The refits add the calibration's own uncertainty to the window's luck.
    assert (with_refits["roc_auc.high"] - with_refits["roc_auc.low"]) >= (
        found["roc_auc.high"] - found["roc_auc.low"]
    )


def test_the_range_is_widened_by_what_registration_saw_beyond_chance(rng):
    estimator = calibrate(*_world(rng, 8_000), measure=False)
    window, _ = _world(rng, 5_000)
    plain = estimate(estimator, window, window >= 0.5)
    error = {"roc_auc": {"mae": 0.05, "bias": 0.0, "spread": 0.05, "coverage": 0.9}}
    widened = estimate({**estimator, "error": error}, window, window >= 0.5)
    assert widened["roc_auc"] == plain["roc_auc"]
    assert widened["roc_auc.low"] < plain["roc_auc.low"] - 0.05
    assert widened["roc_auc.high"] > plain["roc_auc.high"] + 0.05
    assert widened["accuracy.low"] == plain["accuracy.low"]  # no spread measured for it


def test_the_estimator_measures_its_own_error_on_held_out_windows(rng):
    score, y = _world(rng, 6_000)
    error = calibrate(score, y)["error"]
    assert (error["rows"], error["windows"], error["window_rows"]) == (6_000, 10, 600)
    for metric in ESTIMATED:
        assert 0 < error[metric]["mae"] < 0.06
        assert 0 <= error[metric]["spread"] < error[metric]["mae"]  # little beyond chance here
        assert abs(error[metric]["bias"]) <= error[metric]["mae"]
        assert error[metric]["coverage"] >= 0.6  # ten windows: a coarse share
    # Too few rows for windows of any use: the map, no measured error.
    assert "error" not in calibrate(score[:500], y[:500])


def test_realized_figures_are_the_ones_training_reports(rng):
    score, y = _world(rng, 2_000)
    decided = score >= 0.5
    found = realized_metrics(y, score, decided)
    assert found["roc_auc"] == pytest.approx(roc_auc_score(y, score))
    assert found["accuracy"] == pytest.approx(accuracy_score(y, decided))
    assert found["f1"] == pytest.approx(f1_score(y, decided))


def test_an_empty_window_estimates_nothing_and_one_class_cannot_calibrate(rng):
    score, y = _world(rng, 1_000)
    found = estimate(calibrate(score, y, measure=False), np.array([]), np.array([]))
    assert len(found) == 3 * len(ESTIMATED)
    assert all(math.isnan(v) for v in found.values())
    with pytest.raises(ValueError, match=r"rows of both classes.*labels \[0\.0\]"):
        calibrate(score, np.zeros_like(y))
