"""Drift statistics agree with SciPy's; injected shifts are caught by the right check."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats as scipy_stats
from scipy.spatial import distance

from prodml.errors import ConfigError, DataValidationError
from prodml.monitor import stats
from prodml.monitor.compare import compare
from prodml.monitor.reference import Reference


@pytest.mark.parametrize("n", [300, 20_000])  # SciPy's exact and asymptotic p-values
def test_ks_agrees_with_scipy(rng, n):
    reference = rng.normal(size=n)
    current = rng.normal(0.05, 1.1, size=n + 7)
    expected = scipy_stats.ks_2samp(reference, current)
    statistic, p_value = stats.ks(np.sort(reference), current)
    assert statistic == pytest.approx(expected.statistic, abs=1e-12)
    assert p_value == pytest.approx(expected.pvalue, abs=1e-9)


def test_wasserstein_agrees_with_scipy_ties_included(rng):
    reference = np.round(rng.gamma(2.0, size=50_000), 2)  # many ties on both sides
    current = np.round(rng.gamma(2.2, size=30_001), 2)
    expected = scipy_stats.wasserstein_distance(reference, current)
    assert stats.wasserstein(np.sort(reference), current) == pytest.approx(expected, abs=1e-9)


def test_psi_of_a_hand_computed_case():
    # (0.25 - 0.5) ln(0.25 / 0.5) + (0.75 - 0.5) ln(0.75 / 0.5) = 0.25 ln 2 + 0.25 ln 1.5
    assert stats.psi(np.array([0.5, 0.5]), np.array([0.25, 0.75])) == pytest.approx(
        0.274653, abs=1e-6
    )
    assert stats.psi(np.array([0.5, 0.5]), np.array([0.5, 0.5])) == 0.0


def test_chi_square_and_jensen_shannon_agree_with_scipy():
    reference = {"a": 500, "b": 300, "c": 200}
    current = {"a": 380, "b": 320, "c": 290, "d": 10}  # "d": never seen in the reference
    keys = ["a", "b", "c", "d"]
    ref = np.array([reference.get(k, 0) for k in keys], float)
    cur = np.array([current.get(k, 0) for k in keys], float)
    assert stats.jensen_shannon(reference, current) == pytest.approx(
        distance.jensenshannon(ref / ref.sum(), cur / cur.sum()), abs=1e-12
    )
    expected_share = np.where(ref > 0, ref / ref.sum(), 1e-6)  # an unseen category: 1e-6
    expected = scipy_stats.chisquare(cur, expected_share / expected_share.sum() * cur.sum())
    assert stats.chi_square(reference, current) == pytest.approx(
        (expected.statistic, expected.pvalue), abs=1e-9
    )


def _frame(rng, n: int, *, mean: float = 0.0, new_category: bool = False) -> pd.DataFrame:
    colors = rng.choice(["red", "green", "blue"], size=n, p=[0.5, 0.3, 0.2]).astype(object)
    if new_category:
        colors[: n // 5] = "ultraviolet"
    frame = pd.DataFrame(
        {
            "size": rng.normal(mean, 1.0, size=n),
            "weight": rng.exponential(2.0, size=n),
            "color": colors,
            "doors": rng.choice([2, 4], size=n),  # numeric, two values: compared as categories
        }
    )
    frame.loc[frame.index % 11 == 0, "weight"] = np.nan  # missing values are left out
    return frame


@pytest.fixture
def reference(rng):
    return Reference.from_frame(_frame(rng, 20_000))


def test_no_shift_raises_no_drift(reference, rng):
    found = compare(reference, _frame(rng, 5_000))
    assert [d.feature for d in found] == ["size", "weight", "color", "doors"]
    assert [d.method for d in found] == [
        "wasserstein",
        "wasserstein",
        "jensenshannon",
        "jensenshannon",  # a numeric feature of two values
    ]
    assert not any(d.drifted for d in found)


def test_a_mean_shift_is_caught_on_that_feature_only(reference, rng):
    found = {d.feature: d for d in compare(reference, _frame(rng, 5_000, mean=0.5))}
    assert found["size"].drifted
    assert found["size"].statistic == pytest.approx(0.5, abs=0.05)  # in reference std units
    assert not any(d.drifted for name, d in found.items() if name != "size")


def test_a_new_category_is_caught_on_that_feature_only(reference, rng):
    found = {d.feature: d for d in compare(reference, _frame(rng, 5_000, new_category=True))}
    assert found["color"].drifted
    assert not any(d.drifted for name, d in found.items() if name != "color")


def test_a_rise_in_missing_values_is_caught_though_the_values_left_look_alike(reference, rng):
    window = _frame(rng, 5_000)
    window.loc[: len(window) // 3, "size"] = np.nan
    found = compare(reference, window)[0]
    assert found.drifted
    assert found.statistic < found.threshold  # not by its distribution: by its gaps
    assert (round(found.missing_share, 2), found.reference_missing_share) == (0.33, 0.0)


def test_a_feature_the_window_lacks_is_named(reference, rng):
    with pytest.raises(DataValidationError, match="no column"):
        compare(reference, _frame(rng, 100).drop(columns=["color"]))


def test_small_references_are_judged_by_tests_and_methods_can_be_chosen(rng):
    small = Reference.from_frame(_frame(rng, 800))
    found = {d.feature: d for d in compare(small, _frame(rng, 800, mean=0.4))}
    assert (found["size"].method, found["color"].method) == ("ks", "chisquare")
    assert found["size"].drifted
    assert found["size"].p_value < 0.05
    chosen = compare(small, _frame(rng, 800), methods={"size": "psi"}, thresholds={"size": 0.5})
    assert (chosen[0].method, chosen[0].threshold) == ("psi", 0.5)
    with pytest.raises(ConfigError, match="'entropy' for size is not one of"):
        compare(small, _frame(rng, 10), methods={"size": "entropy"})


def test_a_saved_reference_loads_identical(reference, tmp_path, rng):
    reference.save(tmp_path / "ref.npz")
    loaded = Reference.load(tmp_path / "ref.npz")
    window = _frame(rng, 3_000, mean=0.2)
    assert compare(loaded, window) == compare(reference, window)
    # The sample of whole rows too, missing values and all.
    assert len(reference.sample) == 20_000
    pd.testing.assert_frame_equal(loaded.sample, reference.sample)
    assert loaded.sample["weight"].isna().sum() == reference.columns["weight"].nulls
