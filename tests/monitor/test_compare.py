"""Drift statistics agree with SciPy's; injected shifts are caught by the right check, and
windows with no shift stay quiet at every size."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats as scipy_stats
from scipy.spatial import distance

from prodml.errors import ConfigError, DataValidationError
from prodml.monitor import stats
from prodml.monitor.chance import ChanceLevels
from prodml.monitor.compare import (
    BELOW_FLOOR,
    EFFECT,
    RARE_CATEGORY,
    WITHIN_CHANCE,
    compare,
    statistic,
)
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


# --- decisions that account for the window's size -------------------------------------

DESTS = [f"D{i:02d}" for i in range(99)]
DEST_SHARES = 1.0 / np.arange(1, 100) ** 1.1 / (1.0 / np.arange(1, 100) ** 1.1).sum()
CARRIERS = ["UA", "B6", "EV", "DL", "AA", "MQ", "US", "9E", "WN", "VX", "FL", "OO"]
CARRIER_SHARES = np.array([17, 16, 16, 14, 10, 8, 6, 5, 4, 2, 1.6, 0.4]) / 100


def _flights(rng, n: int, *, distance_mean: float = 1040.0, carrier_shares=CARRIER_SHARES):
    """Rows shaped like the flights: a skewed 99-category destination, a carrier of a dozen
    with rare ones, a numeric distance."""
    return pd.DataFrame(
        {
            "dest": rng.choice(DESTS, size=n, p=DEST_SHARES),
            "carrier": rng.choice(CARRIERS, size=n, p=carrier_shares / carrier_shares.sum()),
            "distance": rng.gamma(2.0, distance_mean / 2.0, size=n),
            "hour": rng.integers(5, 23, size=n).astype(float),
        }
    )


@pytest.fixture(scope="module")
def flights_reference():
    return Reference.from_frame(_flights(np.random.default_rng(7), 200_000))


@pytest.mark.parametrize("n", [200, 500, 1_000, 5_000])
def test_windows_with_no_shift_rarely_alarm_whatever_their_size(flights_reference, n):
    """Independent samples of the reference's own population: a fixed 0.1 distance raised
    drift in nearly every 500-row window of a 99-category feature."""
    rng = np.random.default_rng(n)
    chance = ChanceLevels(flights_reference, statistic)
    alarms = sum(
        any(d.drifted for d in compare(flights_reference, _flights(rng, n), chance=chance))
        for _ in range(200)
    )
    assert alarms <= 10  # at most 5 % of windows; 1 % to 2 % expected (chance.ALPHA = 1 %)


def test_a_five_percent_rise_in_a_mean_is_caught_in_a_large_window(flights_reference, rng):
    found = {
        d.feature: d for d in compare(flights_reference, _flights(rng, 5_000, distance_mean=1092))
    }
    assert found["distance"].drifted
    assert found["distance"].rule == EFFECT
    assert found["distance"].chance < found["distance"].statistic


def test_a_rare_category_tripling_is_drift_though_the_distance_over_all_is_small(
    flights_reference, rng
):
    shares = CARRIER_SHARES.copy()
    shares[-1] *= 3  # OO: 0.4 % -> about 1.2 %
    found = {
        d.feature: d
        for d in compare(flights_reference, _flights(rng, 5_000, carrier_shares=shares))
    }
    carrier = found["carrier"]
    assert carrier.drifted
    assert carrier.statistic < 0.1  # the old fixed threshold would have stayed silent
    assert carrier.rule == RARE_CATEGORY
    assert "'OO'" in carrier.detail


def test_a_category_never_seen_is_drift_by_its_share(flights_reference, rng):
    window = _flights(rng, 20_000)
    window.loc[:119, "carrier"] = "ZZ"  # 0.6 % of the rows
    carrier = {d.feature: d for d in compare(flights_reference, window)}["carrier"]
    assert (carrier.drifted, carrier.rule) == (True, RARE_CATEGORY)
    assert "never seen" in carrier.detail


def test_each_verdict_names_the_rule_that_decided(flights_reference, rng):
    calm = {d.feature: d for d in compare(flights_reference, _flights(rng, 1_000))}
    assert calm["dest"].rule == WITHIN_CHANCE
    assert calm["dest"].chance > calm["dest"].statistic
    # A huge window sees a 1 % rise beyond chance, but it is a trivial effect.
    tiny = {
        d.feature: d for d in compare(flights_reference, _flights(rng, 400_000, distance_mean=1050))
    }
    assert tiny["distance"].rule == BELOW_FLOOR
    assert not tiny["distance"].drifted
