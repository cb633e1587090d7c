"""The sequential test: looking after every batch of rows keeps false alarms under α,
its confidence sequence holds the truth at every look, and a real difference is found."""

import numpy as np
import pytest

from prodml.monitor.labels import LABEL
from prodml.rollout.sequential import (
    auc_with_variance,
    difference,
    fixed_horizon_rows,
    mean_difference,
)
from tests._data import requests_by_hour

ALPHA = 0.05
LOOKS = np.arange(100, 5001, 100)  # a look every 100 rows per arm, 50 in all


def _looked(candidate: np.ndarray, stable: np.ndarray, margin: float) -> list:
    return [
        mean_difference(candidate[:n], stable[:n], margin=margin, tau=0.05, alpha=ALPHA)
        for n in LOOKS
    ]


def test_an_a_a_test_looked_at_fifty_times_fires_no_more_often_than_alpha():
    rng = np.random.default_rng(0)
    fired = covered = 0
    runs = 400
    for _ in range(runs):
        a, b = rng.random(LOOKS[-1]) < 0.1, rng.random(LOOKS[-1]) < 0.1
        tests = _looked(a, b, margin=0.0)
        fired += any(t.worse for t in tests)
        covered += all(t.low <= 0 <= t.high for t in tests)
    assert fired / runs <= ALPHA
    assert covered / runs >= 1 - ALPHA


def test_a_fixed_horizon_test_looked_at_as_often_would_not_hold_alpha():
    """The reason for the sequential test: a z-test at every look fires far too often."""
    rng = np.random.default_rng(1)
    runs, fired = 400, 0
    for _ in range(runs):
        a, b = rng.random(LOOKS[-1]) < 0.1, rng.random(LOOKS[-1]) < 0.1
        z = [(a[:n].mean() - b[:n].mean()) / np.sqrt(0.09 * 2 / n) for n in LOOKS]
        fired += any(v > 1.645 for v in z)
    assert fired / runs > 2 * ALPHA


def test_a_real_rise_in_failures_is_found_within_a_few_hundred_rows():
    rng = np.random.default_rng(2)
    candidate, stable = rng.random(LOOKS[-1]) < 0.10, np.zeros(LOOKS[-1])
    tests = _looked(candidate, stable, margin=0.01)
    first = next(n for n, t in zip(LOOKS, tests, strict=True) if t.worse)
    assert first <= 300
    assert tests[-1].p_value < ALPHA


def test_a_difference_within_the_margin_is_tolerated():
    rng = np.random.default_rng(3)
    candidate, stable = rng.random(LOOKS[-1]) < 0.105, rng.random(LOOKS[-1]) < 0.10
    assert not any(t.worse for t in _looked(candidate, stable, margin=0.02))


def test_auc_and_its_variance_match_a_bootstrap():
    rng = np.random.default_rng(4)
    y = rng.random(2000) < 0.3
    score = rng.normal(size=2000) + y
    auc, variance = auc_with_variance(y, score)
    from sklearn.metrics import roc_auc_score

    assert auc == pytest.approx(roc_auc_score(y, score))
    draws = [
        roc_auc_score(y[i], score[i]) for i in (rng.integers(0, 2000, 2000) for _ in range(300))
    ]
    assert np.sqrt(variance) == pytest.approx(np.std(draws), rel=0.25)


def test_an_unknown_variance_decides_nothing():
    found = difference(
        0.5, 0.1, float("nan"), margin=0.0, tau=0.05, alpha=ALPHA, n_candidate=1, n_stable=1
    )
    assert not found.worse
    assert found.p_value == 1.0


def test_the_fixed_horizon_sample_grows_with_the_square_of_the_precision():
    assert fixed_horizon_rows(0.3, 0.01, alpha=0.05) == pytest.approx(
        4 * fixed_horizon_rows(0.3, 0.02, alpha=0.05)
    )


def test_the_auc_variance_of_rows_in_requests_counts_the_requests():
    rng = np.random.default_rng(5)
    draws = [requests_by_hour(rng, 60, 40, "a") for _ in range(300)]
    aucs = [auc_with_variance(d[LABEL], d["prediction"])[0] for d in draws]
    clustered = np.mean(
        [auc_with_variance(d[LABEL], d["prediction"], d["request_id"])[1] for d in draws]
    )
    per_row = np.mean([auc_with_variance(d[LABEL], d["prediction"])[1] for d in draws])
    # The AUC's spread over repeated samples is what the clustered variance says, and
    # about twice what 2,400 independent rows would have.
    assert np.sqrt(clustered) == pytest.approx(np.std(aucs), rel=0.15)
    assert np.sqrt(per_row) < 0.7 * np.std(aucs)


def test_an_a_a_test_of_whole_requests_holds_alpha_only_when_it_counts_requests():
    """A request's rows share its failure odds (a slow dependency at that hour): counted as
    independent rows they make a false alarm likely, counted by request they do not."""
    rng = np.random.default_rng(6)
    size, looks = 50, range(4, 101, 2)  # 50 looks, every 2 requests per arm
    runs, fired_rows, fired_requests = 200, 0, 0
    for _ in range(runs):
        a, b = (rng.random((100, size)) < rng.beta(1, 9, (100, 1)) for _ in "ab")
        groups = np.repeat(np.arange(100), size)
        tests = [(a[:n].ravel(), b[:n].ravel(), groups[: n * size]) for n in looks]
        fired_rows += any(
            mean_difference(x, y, margin=0.0, tau=0.05, alpha=ALPHA).worse for x, y, _ in tests
        )
        fired_requests += any(
            mean_difference(
                x, y, margin=0.0, tau=0.05, alpha=ALPHA, candidate_groups=g, stable_groups=g
            ).worse
            for x, y, g in tests
        )
    assert fired_requests / runs <= ALPHA
    assert fired_rows / runs > 2 * ALPHA
