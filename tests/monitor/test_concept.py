"""Concept drift on error streams: a changed label relationship shows as a rise in errors,
caught by CUSUM against the reference's held-out errors or by Page–Hinkley without them."""

import numpy as np
import pytest

from prodml.monitor.concept import cusum, expected_delay, page_hinkley


def test_a_steady_error_rate_raises_no_alarm(rng):
    misses = rng.random(20_000) < 0.2
    assert page_hinkley(misses.astype(float)) is None


def test_a_rise_in_misses_is_caught_soon_after_it_began(rng):
    before = rng.random(5_000) < 0.2
    after = rng.random(5_000) < 0.35  # the inputs mean something else now
    found = page_hinkley(np.concatenate([before, after]).astype(float))
    assert found is not None
    assert 4_700 <= found.started_at <= 5_300  # where the rise began, not where it was seen
    assert 5_000 < found.detected_at < 6_000
    assert found.started_at <= found.detected_at


def test_a_fall_in_errors_is_not_an_alarm(rng):
    errors = np.concatenate([rng.random(3_000) < 0.3, rng.random(3_000) < 0.1]).astype(float)
    assert page_hinkley(errors) is None


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="threshold > 0"):
        page_hinkley([0.0], threshold=0)


# --- CUSUM against the reference's held-out errors -------------------------------------


def _excess(rng, n: int, flipped: float = 0.0) -> np.ndarray:
    """A calibrated classifier's excess errors, |y − p| − 2p(1 − p); from the first row,
    a share `flipped` of the labels' relationship to the inputs is reversed."""
    p = rng.beta(2, 5, n)
    truth = np.where(rng.random(n) < flipped, 1 - p, p)
    y = (rng.random(n) < truth).astype(float)
    return np.abs(y - p) - 2 * p * (1 - p)


@pytest.fixture(scope="module")
def held_out():
    errors = _excess(np.random.default_rng(0), 20_000)
    return {"mean": errors.mean(), "std": errors.std()}


def test_cusum_raises_no_alarm_on_a_long_steady_stream(held_out):
    rng = np.random.default_rng(1)
    assert all(cusum(_excess(rng, 100_000), **held_out) is None for _ in range(3))


@pytest.mark.parametrize("history", [500, 50_000])
def test_a_30_percent_label_flip_is_caught_within_5000_rows_whatever_came_first(held_out, history):
    """Page–Hinkley judged the rise against the stream's own running mean: 30 % flips went
    unseen within 40,000 rows, and whether they were caught hung on the history before."""
    rng = np.random.default_rng(history)
    caught = 0
    for _ in range(20):
        errors = np.concatenate([_excess(rng, history), _excess(rng, 5_000, flipped=0.3)])
        found = cusum(errors, **held_out)
        caught += found is not None and found.detected_at >= history
    assert caught >= 18  # 90 %


def test_cusum_dates_the_rise_and_keeps_its_stated_delay(held_out):
    rng = np.random.default_rng(3)
    delays, starts = [], []
    for _ in range(30):
        errors = np.concatenate([_excess(rng, 3_000), _excess(rng, 6_000, flipped=0.5)])
        found = cusum(errors, **held_out)
        assert found is not None
        delays.append(found.detected_at - 3_000)
        starts.append(found.started_at)
    rise = (_excess(rng, 200_000, flipped=0.5).mean() - held_out["mean"]) / held_out["std"]
    assert np.mean(delays) == pytest.approx(expected_delay(rise), rel=0.3)
    assert 2_500 <= np.median(starts) <= 3_300  # where the rise began, not where it was seen


def test_cusum_refuses_a_reference_with_no_spread():
    with pytest.raises(ValueError, match="std > 0"):
        cusum([0.0], mean=0.0, std=0.0)
