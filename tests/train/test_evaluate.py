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


def test_regression_metrics_agree_with_scikit_learn():
    from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score

    from prodml.train.evaluate import regression_metrics

    rng = np.random.default_rng(0)
    y = rng.normal(size=500)
    p = y + rng.normal(scale=0.3, size=500)
    got = regression_metrics(y, p)
    assert got["rmse"] == pytest.approx(np.sqrt(mean_squared_error(y, p)))
    assert got["mae"] == pytest.approx(mean_absolute_error(y, p))
    assert got["r2"] == pytest.approx(r2_score(y, p))
    assert math.isnan(regression_metrics([1.0, 1.0], [1.0, 2.0])["r2"])


def test_the_calibration_table_bins_by_score():
    from prodml.train.evaluate import calibration_table

    rng = np.random.default_rng(1)
    p = rng.uniform(size=20_000)
    y = (rng.uniform(size=20_000) < p).astype(int)  # perfectly calibrated by construction
    table = calibration_table(y, p, bins=10)
    assert [row["rows"] for row in table] == [2000] * 10
    for row in table:
        assert row["observed"] == pytest.approx(row["mean_predicted"], abs=0.04)


def test_the_cost_optimal_threshold_matches_a_brute_force_search():
    from prodml.train.evaluate import best_threshold

    rng = np.random.default_rng(2)
    y = rng.integers(0, 2, 300)
    p = np.round(np.clip(y * 0.3 + rng.uniform(size=300) * 0.7, 0, 1), 2)  # with ties
    got = best_threshold(y, p, cost_false_negative=5.0, cost_false_positive=1.0)

    def cost(t):
        flagged = p >= t
        return 5.0 * np.sum((y == 1) & ~flagged) + 1.0 * np.sum((y == 0) & flagged)

    brute = min(cost(t) for t in [*np.unique(p), 1.01])
    assert got["cost"] == pytest.approx(brute)
    assert cost(got["threshold"]) == pytest.approx(brute)
    # Missing a delay costs nothing: never flag.
    assert (
        best_threshold(y, p, cost_false_negative=0, cost_false_positive=1)["false_positives"] == 0
    )


def test_slices_report_intervals_and_skip_small_ones():
    import pandas as pd

    from prodml.train.slices import slice_metrics

    rng = np.random.default_rng(3)
    n = 3000
    frame = pd.DataFrame(
        {
            "carrier": rng.choice(["UA", "AA", "B6"], n, p=[0.6, 0.38, 0.02]),
            "y": rng.integers(0, 2, n),
        }
    )
    frame["score"] = np.clip(frame["y"] * 0.3 + rng.uniform(size=n) * 0.7, 0, 1)
    results = {
        r.value: r
        for r in slice_metrics(frame, label="y", score="score", slices=["carrier"], min_rows=200)
    }
    assert results["UA"].low < results["UA"].estimate < results["UA"].high
    assert results["UA"].estimate == pytest.approx(
        classification_metrics(frame.y[frame.carrier == "UA"], frame.score[frame.carrier == "UA"])[
            "roc_auc"
        ]
    )
    assert results["B6"].skipped.startswith(f"{results['B6'].rows} rows, fewer than min_rows=200")
    assert math.isnan(results["B6"].estimate)
    with pytest.raises(ValueError, match=r"Unknown metric 'auc'; use one of"):
        slice_metrics(frame, label="y", score="score", slices=["carrier"], metric_name="auc")


def test_the_rank_auc_used_for_bootstraps_equals_scikit_learns():
    from sklearn.metrics import roc_auc_score

    from prodml.train.evaluate import metric

    auc, higher_is_better = metric("roc_auc")
    rng = np.random.default_rng(4)
    y = rng.integers(0, 2, 1000)
    s = np.round(rng.uniform(size=1000) + 0.3 * y, 1)  # many ties
    assert auc(y, s) == pytest.approx(roc_auc_score(y, s), abs=1e-12)
    assert higher_is_better
    assert math.isnan(auc(np.ones(5), s[:5]))
