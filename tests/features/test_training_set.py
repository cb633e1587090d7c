"""get_training_set against a slow, obviously correct reference loop."""

import tempfile
from datetime import timedelta
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from prodml.features import Entity, FeatureService, FeatureView, get_training_set

T0 = pd.Timestamp("2024-01-01", tz="UTC")
AIRPORT = Entity("airport", join_keys=("airport",))
PLANE = Entity("plane", join_keys=("tail", "carrier"))


def _reference(events, view, rows):
    """For each event: the latest row of its key at or before it, within the TTL; among rows
    with the same key and time, the latest created one."""
    out = []
    keys = list(view.entity.join_keys)
    for _, event in events.iterrows():
        match = rows[(rows[keys] == event[keys].to_numpy()).all(axis=1)]
        match = match[match["ts"] <= event["t"]]
        if view.ttl is not None:
            match = match[event["t"] - match["ts"] <= view.ttl]
        if match.empty:
            out.append([None] * len(view.features))
            continue
        best = match.sort_values(["ts", "created"]).iloc[-1]
        out.append([best[f] for f in view.features])
    return out


def _view(name, entity, features, path, ttl):
    return FeatureView(
        name,
        entity=entity,
        source=str(path),
        timestamp="ts",
        features=features,
        ttl=ttl,
        created_timestamp="created",
    )


minutes = st.integers(0, 60)
airports = st.sampled_from(["JFK", "LGA", "EWR"])
tails = st.sampled_from(["N1", "N2"])
carriers = st.sampled_from(["AA", "UA"])


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    events=st.lists(st.tuples(airports, tails, carriers, minutes), min_size=1, max_size=25),
    weather=st.lists(st.tuples(airports, minutes, minutes, st.integers(-20, 40)), max_size=25),
    planes=st.lists(st.tuples(tails, carriers, minutes, minutes, st.integers(0, 400)), max_size=25),
    ttl=st.one_of(st.none(), st.integers(1, 30)),
)
def test_matches_the_reference_on_several_views(events, weather, planes, ttl):
    ev = pd.DataFrame(events, columns=["airport", "tail", "carrier", "m"])
    ev["t"] = T0 + pd.to_timedelta(ev.pop("m"), unit="min")
    w = pd.DataFrame(weather, columns=["airport", "m", "c", "temp"])
    p = pd.DataFrame(planes, columns=["tail", "carrier", "m", "c", "seats"])
    for frame in (w, p):
        frame["ts"] = T0 + pd.to_timedelta(frame.pop("m"), unit="min")
        # created: when the row was written; late rows arrive well after their time.
        frame["created"] = frame["ts"] + pd.to_timedelta(frame.pop("c") * 7 + frame.index, unit="s")
    with tempfile.TemporaryDirectory() as tmp:
        w.to_parquet(Path(tmp, "w.parquet"))
        p.to_parquet(Path(tmp, "p.parquet"))
        wv = _view(
            "weather",
            AIRPORT,
            ("temp",),
            Path(tmp, "w.parquet"),
            None if ttl is None else timedelta(minutes=ttl),
        )
        pv = _view("planes", PLANE, ("seats",), Path(tmp, "p.parquet"), None)
        got = get_training_set(ev, FeatureService("s", views=(wv, pv)), event_timestamp="t")
    assert got["t"].tolist() == ev["t"].tolist()  # order and count kept
    for view, rows in ((wv, w), (pv, p)):
        expected = _reference(ev, view, rows)
        actual = (
            got[list(view.features)].astype(object).where(got[list(view.features)].notna(), None)
        )
        assert actual.values.tolist() == expected, view.name


def test_events_from_parquet_stream_to_parquet(tmp_path):
    pd.DataFrame({"airport": ["JFK"], "ts": [T0], "created": [T0], "temp": [5]}).to_parquet(
        tmp_path / "w.parquet"
    )
    events = pd.DataFrame({"airport": ["JFK", "LGA"], "t": [T0 + pd.Timedelta("1h")] * 2})
    events.to_parquet(tmp_path / "events.parquet")
    view = _view("weather", AIRPORT, ("temp",), tmp_path / "w.parquet", timedelta(hours=3))
    out = get_training_set(
        tmp_path / "events.parquet",
        FeatureService("s", views=(view,)),
        event_timestamp="t",
        output=tmp_path / "train.parquet",
    )
    assert pd.read_parquet(out)["temp"].tolist()[0] == 5
    assert pd.isna(pd.read_parquet(out)["temp"].tolist()[1])


def test_definitions_are_checked_and_versioned(tmp_path):
    view = _view("weather", AIRPORT, ("temp",), tmp_path / "w.parquet", None)
    assert (
        view.version == _view("weather", AIRPORT, ("temp",), tmp_path / "w.parquet", None).version
    )
    assert (
        view.version
        != _view("weather", AIRPORT, ("temp",), tmp_path / "w.parquet", timedelta(hours=1)).version
    )
    with pytest.raises(ValueError, match="'temp' comes from both"):
        FeatureService("s", views=(view, _view("again", AIRPORT, ("temp",), tmp_path / "x", None)))
    with pytest.raises(ValueError, match="are keys or the timestamp"):
        _view("bad", AIRPORT, ("airport",), tmp_path / "w.parquet", None)
    with pytest.raises(ValueError, match="ttl must be positive"):
        _view("bad", AIRPORT, ("temp",), tmp_path / "w.parquet", timedelta(0))


def test_events_missing_a_join_key_are_explained(tmp_path):
    pd.DataFrame({"airport": ["JFK"], "ts": [T0], "created": [T0], "temp": [5]}).to_parquet(
        tmp_path / "w.parquet"
    )
    view = _view("weather", AIRPORT, ("temp",), tmp_path / "w.parquet", None)
    with pytest.raises(
        ValueError, match=r"events \(for view 'weather'\) has no column\(s\) \['airport'\]"
    ):
        get_training_set(
            pd.DataFrame({"t": [T0]}), FeatureService("s", views=(view,)), event_timestamp="t"
        )
