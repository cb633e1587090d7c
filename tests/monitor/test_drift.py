import numpy as np
import pandas as pd
import pytest

from prodml.data.profile import profile_frame
from prodml.monitor import DRIFT_THRESHOLD, feature_drift, psi, time_windows


def test_psi_of_a_hand_computed_case():
    # (0.25 - 0.5) ln(0.25 / 0.5) + (0.75 - 0.5) ln(0.75 / 0.5) = 0.25 ln 2 + 0.25 ln 1.5
    assert psi(np.array([0.5, 0.5]), np.array([0.25, 0.75])) == pytest.approx(0.274653, abs=1e-6)
    assert psi(np.array([0.5, 0.5]), np.array([0.5, 0.5])) == 0.0


def test_an_all_null_column_compared_with_itself_has_no_drift():
    empty = pd.DataFrame({"x": [np.nan] * 10})
    assert feature_drift(profile_frame(empty), empty, ["x"]) == {"x": 0.0}


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


def test_calendar_windows_follow_the_local_time_zone_and_skip_empty_months():
    utc = pd.to_datetime(["2013-07-01 03:00", "2013-07-01 05:00", "2013-09-02 12:00"], utc=True)
    frame = pd.DataFrame({"t": utc.tz_convert("America/New_York"), "x": [1, 2, 3]})
    windows = list(time_windows(frame, time="t", freq="MS"))
    assert [(w.start.month, w.end.month, len(w.rows)) for w in windows] == [
        (6, 7, 1),
        (7, 8, 1),
        (9, 10, 1),
    ]
    assert windows[0].rows["x"].tolist() == [1]  # 03:00 UTC on Jul 1 is still June in New York
