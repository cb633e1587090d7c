"""The point-in-time join against a slow, obviously correct reference loop."""

from datetime import timedelta

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from prodml.features.offline import point_in_time_join

T0 = pd.Timestamp("2013-01-01", tz="UTC")


def _reference(events, features, ttl):
    """For each event: the latest feature row of its key at or before it, within the TTL."""
    out = []
    for _, event in events.iterrows():
        past = features[(features["k"] == event["k"]) & (features["ts"] <= event["t"])]
        if ttl is not None:
            past = past[event["t"] - past["ts"] <= ttl]
        out.append(past.sort_values("ts", kind="stable")["x"].iloc[-1] if len(past) else None)
    return out


def _frames(draw_events, draw_features):
    events = pd.DataFrame(draw_events, columns=["k", "minute"])
    events["t"] = T0 + pd.to_timedelta(events["minute"], unit="min")
    features = pd.DataFrame(draw_features, columns=["k", "minute", "x"])
    # One value per (key, time): ties on time are the created-timestamp case of a later issue.
    features = features.drop_duplicates(["k", "minute"])
    features["ts"] = T0 + pd.to_timedelta(features["minute"], unit="min")
    return events[["k", "t"]], features[["k", "ts", "x"]]


keys = st.sampled_from(["a", "b", "c"])
minutes = st.integers(0, 120)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    draw_events=st.lists(st.tuples(keys, minutes), min_size=1, max_size=30),
    draw_features=st.lists(
        st.tuples(keys, minutes, st.floats(-1e6, 1e6, allow_nan=False)), max_size=30
    ),
    ttl_minutes=st.one_of(st.none(), st.integers(0, 60)),
)
def test_matches_the_reference_loop(draw_events, draw_features, ttl_minutes):
    events, features = _frames(draw_events, draw_features)
    ttl = None if ttl_minutes is None else timedelta(minutes=ttl_minutes)
    got = point_in_time_join(
        events, features, keys=["k"], event_time="t", feature_time="ts", columns=["x"], ttl=ttl
    )
    expected = _reference(events, features, ttl)
    assert len(got) == len(events)
    assert got["t"].tolist() == events["t"].tolist()  # order and count kept
    assert [None if pd.isna(v) else v for v in got["x"]] == expected


def test_never_returns_a_value_from_the_future():
    events = pd.DataFrame({"k": ["a"], "t": [T0]})
    features = pd.DataFrame({"k": ["a"], "ts": [T0 + pd.Timedelta(seconds=1)], "x": [1.0]})
    got = point_in_time_join(
        events, features, keys=["k"], event_time="t", feature_time="ts", columns=["x"]
    )
    assert got["x"].isna().all()


def test_missing_columns_and_name_clashes_are_explained():
    events = pd.DataFrame({"k": ["a"], "t": [T0], "x": [0.0]})
    features = pd.DataFrame({"k": ["a"], "ts": [T0], "x": [1.0]})
    with pytest.raises(ValueError, match=r"features has no column\(s\) \['y'\]"):
        point_in_time_join(
            events, features, keys=["k"], event_time="t", feature_time="ts", columns=["y"]
        )
    with pytest.raises(ValueError, match="already exist in the events"):
        point_in_time_join(
            events, features, keys=["k"], event_time="t", feature_time="ts", columns=["x"]
        )


def test_results_do_not_depend_on_the_local_time_zone(monkeypatch):
    import time

    events = pd.DataFrame({"k": ["a"], "t": [pd.Timestamp("2013-01-01 10:00", tz="UTC")]})
    times = pd.to_datetime(["2013-01-01 09:00", "2013-01-01 12:00"], utc=True)
    features = pd.DataFrame({"k": ["a", "a"], "ts": times, "x": [1.0, 2.0]})
    monkeypatch.setenv("TZ", "Asia/Tokyo")
    time.tzset()
    try:
        got = point_in_time_join(
            events, features, keys=["k"], event_time="t", feature_time="ts", columns=["x"]
        )
    finally:
        monkeypatch.undo()
        time.tzset()
    assert got["x"].tolist() == [1.0]
    assert str(got["t"].dt.tz) in {"UTC", "Etc/UTC"}


def test_naive_and_aware_times_are_not_compared():
    events = pd.DataFrame({"k": ["a"], "t": [pd.Timestamp("2013-01-01 10:00", tz="UTC")]})
    features = pd.DataFrame({"k": ["a"], "ts": [pd.Timestamp("2013-01-01 09:00")], "x": [1.0]})
    with pytest.raises(ValueError, match=r"timezone-aware but features\.ts is naive"):
        point_in_time_join(
            events, features, keys=["k"], event_time="t", feature_time="ts", columns=["x"]
        )
