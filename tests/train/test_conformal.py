import math

import numpy as np
import pytest

from prodml.errors import ConfigError
from prodml.train import conformal


def _classification(rng, n):
    p = rng.uniform(0.02, 0.98, n)
    return p, (rng.random(n) < p).astype(int)


@pytest.mark.parametrize("level", [0.8, 0.9, 0.95])
def test_sets_hold_the_true_class_at_the_chosen_coverage(level):
    rng = np.random.default_rng(0)
    fitted = conformal.fit(*_classification(rng, 5000), "classification")
    q = conformal.quantile(fitted, level)
    p, y = _classification(rng, 20000)  # fresh rows from the same distribution
    covered = np.mean([yi in conformal.prediction_set(pi, q) for pi, yi in zip(p, y, strict=True)])
    assert covered == pytest.approx(level, abs=0.015)


@pytest.mark.parametrize("level", [0.5, 0.9, 0.99])
def test_intervals_hold_the_true_value_at_the_chosen_coverage(level):
    rng = np.random.default_rng(1)
    fitted = conformal.fit(np.zeros(5000), rng.standard_t(4, 5000), "regression")
    q = conformal.quantile(fitted, level)
    fresh = rng.standard_t(4, 20000)
    low, high = conformal.interval(0.0, q)
    assert np.mean((fresh >= low) & (fresh <= high)) == pytest.approx(level, abs=0.015)


def test_the_quantile_is_the_finite_sample_corrected_order_statistic():
    errors = np.arange(1, 10, dtype=float)  # n = 9: level 0.9 needs the ceil(10 * 0.9) = 9th
    fitted = conformal.fit(np.zeros(9), errors, "regression")
    assert conformal.quantile(fitted, 0.9) == 9.0
    assert conformal.quantile(fitted, 0.5) == 5.0
    # With too few rows for a level there is no finite bound, and JSON says so with null.
    assert fitted["quantiles"]["0.95"] is None
    assert math.isinf(conformal.quantile(fitted, 0.95))


def test_an_unstored_level_is_a_clear_error():
    fitted = conformal.fit(np.zeros(100), np.ones(100), "regression")
    with pytest.raises(ConfigError, match=r"between 0\.50 and 0\.99 in steps of 0\.01"):
        conformal.quantile(fitted, 0.875)
