"""Page–Hinkley on error streams: a changed label relationship shows as a rise in errors."""

import numpy as np
import pytest

from prodml.monitor.concept import page_hinkley


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
