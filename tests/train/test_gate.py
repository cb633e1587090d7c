"""The promotion gate: better than every baseline, non-inferior to the champion, with
paired bootstrap intervals; the report says why either way."""

from datetime import UTC, datetime

import numpy as np
import pytest

from prodml.train.bootstrap import bootstrap_interval, paired_difference_interval
from prodml.train.evaluate import metric
from prodml.train.gate import gate

NOW = datetime(2024, 1, 1, tzinfo=UTC)
RNG = np.random.default_rng(0)
N = 4000
Y = RNG.integers(0, 2, N)
NOISE = RNG.uniform(size=N)


def scores(signal: float, seed: int = 1) -> np.ndarray:
    noise = np.random.default_rng(seed).uniform(size=N)
    return np.clip(Y * signal + noise * (1 - signal), 0, 1)


def test_a_clearly_better_candidate_passes_and_says_by_how_much():
    report = gate(
        Y,
        ("lgbm", scores(0.4)),
        baselines={"majority": np.full(N, 0.5), "logistic": scores(0.2, 2)},
        champion=("v1", scores(0.3, 3)),
        now=NOW,
    )
    assert report.passed, report.reasons
    assert [c["role"] for c in report.comparisons] == ["baseline", "baseline", "champion"]
    assert all(c["improvement"] > 0 for c in report.comparisons)
    assert report.decided_at == NOW.isoformat()


def test_no_better_than_a_baseline_fails():
    same = scores(0.2, 2)
    report = gate(Y, ("copy", same), baselines={"logistic": same}, champion=None, now=NOW)
    assert not report.passed
    assert "not better than baseline logistic on roc_auc" in report.reasons[0]


def perturbed(base: np.ndarray, amount: float, seed: int) -> np.ndarray:
    """A close relative of `base`: two versions of one model score rows alike."""
    noise = np.random.default_rng(seed).uniform(size=N)
    return (1 - amount) * base + amount * noise


def test_the_champion_margin_decides_non_inferiority():
    champion = ("v1", scores(0.30, 3))
    slightly_worse = ("v2", perturbed(champion[1], 0.2, 4))
    lenient = gate(Y, slightly_worse, baselines={}, champion=champion, margin=0.05, now=NOW)
    strict = gate(Y, slightly_worse, baselines={}, champion=champion, margin=0.0, now=NOW)
    assert lenient.passed
    assert not strict.passed
    assert "v2 is not better than champion v1" in strict.reasons[0]


def test_a_negative_margin_asks_the_candidate_to_beat_the_champion_by_that_much():
    champion = ("v1", scores(0.30, 3))
    better = ("v2", scores(0.45, 3))
    report = gate(Y, better, baselines={}, champion=champion, margin=0.0, now=NOW)
    assert report.passed
    gain = report.comparisons[0]["low"]  # the least improvement the interval allows
    demanding = gate(Y, better, baselines={}, champion=champion, margin=-(gain + 0.01), now=NOW)
    assert not demanding.passed
    assert f"not better by more than {gain + 0.01} than champion v1" in demanding.reasons[0]


def test_lower_is_better_metrics_are_judged_the_right_way_round():
    report = gate(
        Y,
        ("good", scores(0.4)),
        baselines={"bad": scores(0.1, 5)},
        champion=None,
        metric_name="log_loss",
        now=NOW,
    )
    assert report.passed, report.reasons
    assert report.comparisons[0]["improvement"] > 0


def test_bootstrap_intervals_cover_the_estimate_and_pairing_narrows_them():
    auc, _ = metric("roc_auc")
    a = scores(0.3, 6)
    b = perturbed(a, 0.1, 7)
    low, high = bootstrap_interval(auc, Y, a)
    assert low < auc(Y, a) < high
    diff, dlow, dhigh = paired_difference_interval(auc, Y, a, b)
    assert dlow <= diff <= dhigh
    # Paired, the difference is known far better than either AUC alone.
    assert dhigh - dlow < (high - low)
    with pytest.raises(ValueError, match="level must be in"):
        bootstrap_interval(auc, Y, a, level=95)
