"""The offline store's guarantees beyond the reference comparison: no future values, no
dependence on the machine's time zone, transformations and on-demand features."""

import time
from datetime import timedelta

import pandas as pd
import pytest

from prodml.features import (
    Entity,
    FeatureService,
    FeatureView,
    OnDemandFeatureView,
    get_training_set,
)

T0 = pd.Timestamp("2013-01-01 10:00", tz="UTC")
AIRPORT = Entity("airport", join_keys=("airport",))


def _weather(tmp_path, rows, **view):
    pd.DataFrame(rows).to_parquet(tmp_path / "w.parquet")
    defaults = {"features": ("temp",), "ttl": timedelta(hours=3)}
    return FeatureView(
        "weather",
        entity=AIRPORT,
        source=str(tmp_path / "w.parquet"),
        timestamp="ts",
        **{**defaults, **view},
    )


def _one(view, *on_demand):
    return FeatureService("s", views=(view,), on_demand=on_demand)


def test_never_returns_a_value_from_the_future(tmp_path):
    view = _weather(tmp_path, {"airport": ["a"], "ts": [T0 + pd.Timedelta("1s")], "temp": [1.0]})
    events = pd.DataFrame({"airport": ["a"], "t": [T0]})
    assert get_training_set(events, _one(view), event_timestamp="t")["temp"].isna().all()


def test_rows_at_the_same_time_go_to_the_last_written_without_a_created_timestamp(tmp_path):
    folder = tmp_path / "w"
    folder.mkdir()
    pd.DataFrame({"airport": ["a", "a", "b"], "ts": [T0] * 3, "temp": [1.0, 2.0, 5.0]}).to_parquet(
        folder / "1.parquet"
    )
    pd.DataFrame({"airport": ["b"], "ts": [T0], "temp": [6.0]}).to_parquet(folder / "2.parquet")
    view = FeatureView(
        "weather",
        entity=AIRPORT,
        source=str(folder / "*.parquet"),
        timestamp="ts",
        features=("temp",),
    )
    events = pd.DataFrame({"airport": ["a", "b"], "t": [T0, T0 + pd.Timedelta("1h")]})
    got = get_training_set(events, _one(view), event_timestamp="t")
    assert got["temp"].tolist() == [2.0, 6.0]  # later in the file; then the later file


def test_a_known_created_time_beats_an_unknown_one_at_the_same_time(tmp_path):
    rows = {
        "airport": ["a", "a", "a", "b"],
        "ts": [T0] * 4,
        "created": [T0 + pd.Timedelta("2h"), T0 + pd.Timedelta("1h"), pd.NaT, pd.NaT],
        "temp": [2.0, 1.0, 9.0, 3.0],
    }
    view = _weather(tmp_path, rows, created_timestamp="created")
    events = pd.DataFrame({"airport": ["a", "b"], "t": [T0, T0]})
    got = get_training_set(events, _one(view), event_timestamp="t")
    assert got["temp"].tolist() == [2.0, 3.0]


def test_missing_times_match_nothing(tmp_path):
    view = _weather(
        tmp_path,
        {"airport": ["a", "a"], "ts": [T0, pd.NaT], "temp": [1.0, 2.0]},
        ttl=None,
    )
    events = pd.DataFrame({"airport": ["a", "a"], "t": [pd.NaT, T0 + pd.Timedelta("1h")]})
    got = get_training_set(events, _one(view), event_timestamp="t")
    assert pd.isna(got["temp"].iloc[0])
    assert got["temp"].iloc[1] == 1.0


def test_results_do_not_depend_on_the_local_time_zone(tmp_path, monkeypatch):
    view = _weather(
        tmp_path,
        {
            "airport": ["a", "a"],
            "ts": [T0 - pd.Timedelta("1h"), T0 + pd.Timedelta("2h")],
            "temp": [1.0, 2.0],
        },
    )
    events = pd.DataFrame({"airport": ["a"], "t": [T0]})
    monkeypatch.setenv("TZ", "Asia/Tokyo")
    time.tzset()
    try:
        got = get_training_set(events, _one(view), event_timestamp="t")
    finally:
        monkeypatch.undo()
        time.tzset()
    assert got["temp"].tolist() == [1.0]
    assert str(got["t"].dt.tz) in {"UTC", "Etc/UTC"}


def test_naive_and_aware_times_are_not_compared(tmp_path):
    view = _weather(tmp_path, {"airport": ["a"], "ts": [pd.Timestamp("2013-01-01")], "temp": [1.0]})
    events = pd.DataFrame({"airport": ["a"], "t": [T0]})
    with pytest.raises(ValueError, match=r"events\.t is timezone-aware but view 'weather'"):
        get_training_set(events, _one(view), event_timestamp="t")


def test_name_clashes_are_explained(tmp_path):
    view = _weather(tmp_path, {"airport": ["a"], "ts": [T0], "temp": [1.0]})
    events = pd.DataFrame({"airport": ["a"], "t": [T0], "temp": [0.0]})
    with pytest.raises(ValueError, match=r"\['temp'\] already exist in the events"):
        get_training_set(events, _one(view), event_timestamp="t")


def _celsius(frame):
    return frame.assign(temp_c=(frame["temp_f"] - 32) / 1.8)


def test_a_view_transformation_runs_before_the_join(tmp_path):
    view = _weather(
        tmp_path,
        {"airport": ["a", "b"], "ts": [T0, T0], "temp_f": [212.0, 32.0]},
        features=("temp_c",),
        transformation=_celsius,
    )
    events = pd.DataFrame({"airport": ["b", "a"], "t": [T0, T0]})
    got = get_training_set(events, _one(view), event_timestamp="t")
    assert got["temp_c"].tolist() == [0.0, 100.0]


def test_a_transformation_missing_a_feature_is_explained(tmp_path):
    view = _weather(
        tmp_path,
        {"airport": ["a"], "ts": [T0], "temp_f": [212.0]},
        features=("temp_k",),
        transformation=_celsius,
    )
    events = pd.DataFrame({"airport": ["a"], "t": [T0]})
    with pytest.raises(ValueError, match=r"transformation output has no column\(s\) \['temp_k'\]"):
        get_training_set(events, _one(view), event_timestamp="t")


def _feels_cold(row):
    temp = row["temp"]
    return {"cold_for_season": None if temp is None else temp < row["season_mean"] - 5}


COLD = OnDemandFeatureView(
    "cold", inputs=("temp", "season_mean"), features=("cold_for_season",), function=_feels_cold
)


def test_on_demand_features_read_request_fields_and_view_features(tmp_path):
    view = _weather(tmp_path, {"airport": ["a", "b"], "ts": [T0, T0], "temp": [0.0, 20.0]})
    service = _one(view, COLD)
    assert service.request_inputs == ("season_mean",)
    events = pd.DataFrame(
        {"airport": ["a", "b", "c"], "t": [T0] * 3, "season_mean": [10.0, 10.0, 10.0]}
    )
    got = get_training_set(events, service, event_timestamp="t")
    assert got["cold_for_season"].tolist() == [True, False, None]
    # Streamed to Parquet, the same function gives the same values.
    events.to_parquet(tmp_path / "events.parquet")
    out = get_training_set(
        tmp_path / "events.parquet",
        service,
        event_timestamp="t",
        output=tmp_path / "train.parquet",
        chunk_rows=2,
    )
    assert pd.read_parquet(out)["cold_for_season"].tolist() == [True, False, None]


def test_on_demand_inputs_must_be_in_the_events(tmp_path):
    view = _weather(tmp_path, {"airport": ["a"], "ts": [T0], "temp": [0.0]})
    with pytest.raises(
        ValueError, match=r"on-demand features\) has no column\(s\) \['season_mean'"
    ):
        get_training_set(
            pd.DataFrame({"airport": ["a"], "t": [T0]}), _one(view, COLD), event_timestamp="t"
        )


def test_code_is_part_of_the_version(tmp_path):
    def warmer(frame):
        return frame.assign(temp_c=(frame["temp_f"] - 30) / 1.8)

    rows = {"airport": ["a"], "ts": [T0], "temp_f": [212.0]}
    one = _weather(tmp_path, rows, features=("temp_c",), transformation=_celsius)
    other = _weather(tmp_path, rows, features=("temp_c",), transformation=warmer)
    assert one.version != other.version
    assert _one(one).version != _one(other).version
    assert (
        _one(one).version
        == _one(_weather(tmp_path, rows, features=("temp_c",), transformation=_celsius)).version
    )


def test_a_service_of_on_demand_features_alone(tmp_path):
    events = pd.DataFrame({"t": [T0, T0], "temp": [0.0, 20.0], "season_mean": [10.0, 10.0]})
    got = get_training_set(
        events, FeatureService("s", views=(), on_demand=(COLD,)), event_timestamp="t"
    )
    assert got["cold_for_season"].tolist() == [True, False]


def test_feature_columns_keep_their_order_and_types(tmp_path):
    rows = {
        "airport": ["a"],
        "ts": [T0],
        "count": pd.array([1], dtype="Int64"),
        "temp": [0.5],
        "windy": [True],
    }
    view = _weather(tmp_path, rows, features=("count", "temp", "windy"))
    events = pd.DataFrame({"airport": ["a", "b"], "t": [T0, T0]})
    got = get_training_set(events, _one(view), event_timestamp="t")
    assert list(got.columns) == ["airport", "t", "count", "temp", "windy"]
    # A missing value makes an integer or boolean column nullable, a float one NaN.
    assert [str(t) for t in got.dtypes.iloc[2:]] == ["Int64", "float64", "boolean"]
