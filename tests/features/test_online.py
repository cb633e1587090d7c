"""The online store contract (SQLite and Redis), materialization, lookup, and parity with
the offline store at the same moment."""

import contextlib
import shutil
import socket
import subprocess
import time
from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

from prodml.errors import ConfigError, StoreUnavailableError
from prodml.features import Entity, FeatureService, FeatureView, get_training_set
from prodml.features.lookup import get_online_features
from prodml.features.materialize import materialize
from prodml.features.online import open_online_store

T0 = datetime(2024, 1, 1, tzinfo=UTC)
AIRPORT = Entity("airport", join_keys=("airport",))
ROUTE = Entity("route", join_keys=("origin", "dest"))


@pytest.fixture(params=["sqlite", pytest.param("redis", marks=pytest.mark.redis)])
def store(request, tmp_path):
    url = (
        f"sqlite:///{tmp_path / 'online.db'}"
        if request.param == "sqlite"
        else request.getfixturevalue("redis_url")
    )
    store = open_online_store(url)
    yield store
    store.close()


def _view(path, entity=AIRPORT, features=("temp", "wind"), ttl=timedelta(hours=3)):
    return FeatureView(
        "weather",
        entity=entity,
        source=str(path),
        timestamp="ts",
        features=features,
        ttl=ttl,
        created_timestamp="created",
    )


def test_the_newest_value_wins_whatever_the_write_order(store, tmp_path):
    view = _view(tmp_path / "w.parquet")
    store.write(view, [(("JFK",), T0 + timedelta(hours=2), {"temp": 2.0, "wind": "N"})])
    store.write(view, [(("JFK",), T0 + timedelta(hours=1), {"temp": 1.0, "wind": "S"})])  # late
    store.write(view, [(("LGA",), T0, {"temp": None, "wind": "E"})])
    (jfk, lga, ewr) = store.read(view, [("JFK",), ("LGA",), ("EWR",)])
    assert jfk == (T0 + timedelta(hours=2), {"temp": 2.0, "wind": "N"})
    assert lga == (T0, {"temp": None, "wind": "E"})
    assert ewr is None


def test_values_keep_their_types_and_composite_keys_work(store, tmp_path):
    view = _view(tmp_path / "r.parquet", entity=ROUTE, features=("flights", "share", "since", "ok"))
    values = {"flights": 12, "share": 0.25, "since": T0, "ok": True}
    store.write(view, [(("JFK", "LAX"), T0, values)])
    assert store.read(view, [("JFK", "LAX")]) == [(T0, values)]
    assert store.read(view, [("LAX", "JFK")]) == [None]


def test_materialize_then_lookup_reports_age_and_staleness(store, tmp_path):
    rows = pd.DataFrame(
        {
            "airport": ["JFK", "JFK", "LGA"],
            "ts": [T0, T0 + timedelta(hours=1), T0 - timedelta(hours=5)],
            "created": [T0, T0 + timedelta(hours=1), T0],
            "temp": [1.0, 2.0, 9.0],
            "wind": ["N", "S", "E"],
        }
    )
    rows.to_parquet(tmp_path / "w.parquet")
    view = _view(tmp_path / "w.parquet")
    assert materialize(view, store) == 2  # one newest row per key
    now = T0 + timedelta(hours=2)
    jfk, lga, ewr = get_online_features(
        store,
        FeatureService("s", views=(view,)),
        [{"airport": "JFK"}, {"airport": "LGA"}, {"airport": "EWR"}],
        now=now,
    )
    assert (jfk["temp"], jfk["weather__status"], jfk["weather__age_seconds"]) == (
        2.0,
        "fresh",
        3600,
    )
    assert (lga["temp"], lga["weather__status"]) == (None, "stale")  # 7 h old, TTL 3 h
    assert (ewr["temp"], ewr["weather__status"], ewr["weather__age_seconds"]) == (
        None,
        "missing",
        None,
    )


def test_materialize_respects_the_time_range(store, tmp_path):
    pd.DataFrame(
        {
            "airport": ["JFK", "JFK"],
            "ts": [T0, T0 + timedelta(days=1)],
            "created": [T0, T0],
            "temp": [1.0, 2.0],
            "wind": ["N", "S"],
        }
    ).to_parquet(tmp_path / "w.parquet")
    view = _view(tmp_path / "w.parquet")
    materialize(view, store, end=T0 + timedelta(hours=1))
    assert store.read(view, [("JFK",)])[0][1]["temp"] == 1.0
    materialize(view, store, start=T0 + timedelta(hours=1))
    assert store.read(view, [("JFK",)])[0][1]["temp"] == 2.0


def test_online_equals_offline_at_the_same_moment(store, tmp_path):
    rows = pd.DataFrame(
        {
            "airport": ["JFK", "JFK", "LGA", "EWR"],
            "ts": [T0, T0 + timedelta(hours=1), T0 - timedelta(hours=5), T0],
            "created": [T0, T0 + timedelta(hours=1), T0, T0],
            "temp": [1.0, 2.0, 9.0, 4.0],
            "wind": ["N", "S", "E", "W"],
        }
    )
    rows.to_parquet(tmp_path / "w.parquet")
    view = _view(tmp_path / "w.parquet")
    service = FeatureService("s", views=(view,))
    now = T0 + timedelta(hours=2)
    materialize(view, store, end=now)
    keys = [{"airport": a} for a in ("JFK", "LGA", "EWR", "SFO")]
    online = get_online_features(store, service, keys, now=now)
    events = pd.DataFrame({"airport": [k["airport"] for k in keys], "t": [pd.Timestamp(now)] * 4})
    offline = get_training_set(events, service, event_timestamp="t")
    for name in service.features:
        got = [row[name] for row in online]
        expected = [None if pd.isna(v) else v for v in offline[name]]
        assert got == expected, name


def test_an_unknown_store_url_says_which_are_known():
    with pytest.raises(ConfigError, match=r"sqlite:///path/online\.db or redis://"):
        open_online_store("mongodb://x")


def test_pushed_rows_reach_serving_and_training_alike(store, tmp_path):
    from prodml.features.push import push

    log = tmp_path / "weather"
    view = FeatureView(
        "weather",
        entity=AIRPORT,
        source=str(log / "*.parquet"),
        timestamp="ts",
        features=("temp", "wind"),
        ttl=timedelta(hours=3),
    )
    fresh = pd.DataFrame({"airport": ["JFK"], "ts": [T0], "temp": [3.5], "wind": ["N"]})
    assert push(view, fresh, store=store, log_dir=log) == 1
    now = T0 + timedelta(minutes=30)
    (served,) = get_online_features(
        store, FeatureService("s", views=(view,)), [{"airport": "JFK"}], now=now
    )
    events = pd.DataFrame({"airport": ["JFK"], "t": [pd.Timestamp(now)]})
    trained = get_training_set(events, FeatureService("s", views=(view,)), event_timestamp="t")
    assert served["temp"] == trained["temp"].iloc[0] == 3.5
    with pytest.raises(ValueError, match=r"rows lack \['wind'\]"):
        push(view, fresh.drop(columns=["wind"]), store=store, log_dir=log)


def _fahrenheit_to_celsius(frame):
    return frame.assign(temp=(frame["temp_f"] - 32) / 1.8)


def _kelvin(frame):  # a second, different transformation of the same source
    return frame.assign(temp=(frame["temp_f"] - 32) / 1.8 + 273.15)


def _windy_and_cold(row):
    temp, wind = row["temp"], row["wind"]
    return {"harsh": None if temp is None else bool(temp < row["threshold"] and wind == "N")}


def _transformed_view(path, transformation):
    return FeatureView(
        "weather",
        entity=AIRPORT,
        source=str(path),
        timestamp="ts",
        features=("temp", "wind"),
        ttl=timedelta(hours=3),
        transformation=transformation,
    )


def test_transformations_and_on_demand_features_agree_online_and_offline(store, tmp_path):
    from prodml.features import OnDemandFeatureView
    from prodml.features.parity import check_parity
    from prodml.features.push import push

    pd.DataFrame(
        {"airport": ["JFK", "LGA"], "ts": [T0, T0], "temp_f": [23.0, 50.0], "wind": ["N", "N"]}
    ).to_parquet(tmp_path / "w.parquet")
    view = _transformed_view(tmp_path / "w.parquet", _fahrenheit_to_celsius)
    harsh = OnDemandFeatureView(
        "harsh", inputs=("temp", "wind", "threshold"), features=("harsh",), function=_windy_and_cold
    )
    service = FeatureService("s", views=(view,), on_demand=(harsh,))
    now = T0 + timedelta(hours=1)
    materialize(view, store, end=now)
    requests = [{"airport": a, "threshold": 0.0} for a in ("JFK", "LGA", "SFO")]
    online = get_online_features(store, service, requests, now=now)
    events = pd.DataFrame(requests).assign(t=pd.Timestamp(now))
    offline = get_training_set(events, service, event_timestamp="t")
    assert [row["temp"] for row in online] == pytest.approx([-5.0, 10.0, None])
    assert [row["harsh"] for row in online] == [True, False, None]
    assert offline["harsh"].tolist() == [True, False, None]
    assert check_parity(store, service, now=now).ok
    # A push goes through the same transformation: raw rows in the log, converted online.
    log = tmp_path / "pushed"
    pushed = _transformed_view(log / "*.parquet", _fahrenheit_to_celsius)
    rows = pd.DataFrame({"airport": ["EWR"], "ts": [T0], "temp_f": [212.0], "wind": ["S"]})
    push(pushed, rows, store=store, log_dir=log)
    assert store.read(pushed, [("EWR",)])[0][1]["temp"] == pytest.approx(100.0)
    assert check_parity(store, FeatureService("p", views=(pushed,)), now=now).ok


def test_parity_fails_when_serving_used_a_different_transformation(store, tmp_path):
    from prodml.features.parity import check_parity

    pd.DataFrame(
        {"airport": ["JFK", "LGA"], "ts": [T0, T0], "temp_f": [23.0, 50.0], "wind": ["N", "S"]}
    ).to_parquet(tmp_path / "w.parquet")
    served = _transformed_view(tmp_path / "w.parquet", _kelvin)
    trained = _transformed_view(tmp_path / "w.parquet", _fahrenheit_to_celsius)
    now = T0 + timedelta(hours=1)
    materialize(served, store, end=now)  # the online store was loaded by other code
    report = check_parity(store, FeatureService("s", views=(trained,)), now=now)
    assert not report.ok
    assert report.mismatches == {"temp": 2, "wind": 0}
    assert {e["feature"] for e in report.examples} == {"temp"}


def test_incremental_materialization_goes_on_from_the_stores_mark(store, tmp_path):
    from prodml.features.materialize import materialize_incremental

    path = tmp_path / "w.parquet"
    rows = {"airport": ["JFK", "LGA"], "ts": [T0, T0 + timedelta(hours=5)], "created": [T0] * 2}
    pd.DataFrame({**rows, "temp": [1.0, 2.0], "wind": ["N", "S"]}).to_parquet(path)
    view = _view(path)
    assert store.materialized_until(view) is None
    assert materialize_incremental(view, store, end=T0 + timedelta(hours=1)) == (None, 1)
    assert store.materialized_until(view) == T0 + timedelta(hours=1)
    # Only what arrived since the mark is read again.
    since, written = materialize_incremental(view, store, end=T0 + timedelta(hours=6))
    assert (since, written) == (T0 + timedelta(hours=1), 1)
    assert store.read(view, [("LGA",)])[0][1]["temp"] == 2.0
    # A changed view (here a longer TTL) starts from the beginning again.
    changed = _view(path, ttl=timedelta(hours=6))
    assert store.materialized_until(changed) is None
    assert materialize_incremental(changed, store, end=T0 + timedelta(hours=6)) == (None, 2)


@pytest.mark.redis
def test_a_redis_that_goes_away_is_reported_as_unavailable_naming_the_view(tmp_path):
    """A server answers 503 and says which store, not an internal error, when Redis dies
    under it (a Redis of the test's own, stopped mid-way)."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("needs redis-server on PATH to start and stop one of its own")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
    )
    try:
        for _ in range(100):
            with contextlib.suppress(ConfigError, StoreUnavailableError):
                store = open_online_store(f"redis://127.0.0.1:{port}/0")
                break
            time.sleep(0.05)
        view = _view(tmp_path / "w.parquet")
        store.write(view, [(("JFK",), T0, {"temp": 1.0, "wind": "N"})])
        assert store.read(view, [("JFK",)])[0] is not None
    finally:
        server.terminate()
        server.wait(10)
    with pytest.raises(StoreUnavailableError, match="view 'weather'") as caught:
        store.read(view, [("JFK",)])
    assert caught.value.http_status == 503
