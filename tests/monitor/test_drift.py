import numpy as np
import pandas as pd
import pytest

from prodml.data.profile import profile_frame
from prodml.monitor import DRIFT_THRESHOLD, feature_drift, metrics_by_window, psi


def test_psi_matches_its_definition():
    e, a = np.array([0.5, 0.3, 0.2]), np.array([0.4, 0.4, 0.2])
    assert psi(e, a) == pytest.approx(np.sum((a - e) * np.log(a / e)))
    assert psi(e, e) == 0.0


@pytest.fixture
def reference(rng):
    frame = pd.DataFrame(
        {"x": rng.normal(size=20_000), "c": rng.choice(["a", "b", "c"], 20_000, p=[0.5, 0.3, 0.2])}
    )
    return profile_frame(frame)


def _current(rng, n=5000, shift=0.0, p=(0.5, 0.3, 0.2), cats=("a", "b", "c")):
    return pd.DataFrame({"x": rng.normal(loc=shift, size=n), "c": rng.choice(cats, n, p=p)})


def test_no_shift_raises_no_drift(reference, rng):
    drift = feature_drift(reference, _current(rng), ["x", "c"])
    assert max(drift.values()) < 0.02


def test_a_mean_shift_is_caught_on_that_feature_only(reference, rng):
    drift = feature_drift(reference, _current(rng, shift=1.0), ["x", "c"])
    assert drift["x"] > DRIFT_THRESHOLD > drift["c"]


def test_a_new_category_is_caught(reference, rng):
    current = _current(rng, p=(0.3, 0.2, 0.2, 0.3), cats=("a", "b", "c", "new"))
    assert feature_drift(reference, current, ["c"])["c"] > DRIFT_THRESHOLD


def test_a_rise_in_missing_values_is_caught(reference, rng):
    current = _current(rng)
    current.loc[: len(current) // 2, "x"] = np.nan
    assert feature_drift(reference, current, ["x"])["x"] > DRIFT_THRESHOLD


def test_unknown_feature_names_what_the_profile_covers(reference, rng):
    with pytest.raises(ValueError, match=r"no column\(s\) \['zz'\].*\['c', 'x'\]"):
        feature_drift(reference, _current(rng), ["zz"])


def test_metrics_per_month(rng):
    times = pd.date_range("2013-07-01", "2013-08-31 23:00", freq="h", tz="UTC")
    frame = pd.DataFrame({"t": times, "y": rng.integers(0, 2, len(times))})
    frame["s"] = np.where(frame["t"].dt.month == 7, frame["y"], rng.random(len(times)))
    out = metrics_by_window(frame, time="t", label="y", score="s")
    assert out["rows"].tolist() == [31 * 24, 31 * 24]
    assert out["roc_auc"].iloc[0] == 1.0
    assert 0.4 < out["roc_auc"].iloc[1] < 0.6
