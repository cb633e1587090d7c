"""What a delay model may know about a flight at its scheduled departure: the weather at
the origin, the plane, and the route's recent record, as feature definitions.

`prodml demo` applies this file and builds the feature tables it reads (under
``.prodml/demo/features/``, relative to the project) from the validated snapshots. A model
trained on the `flights` service is served with only the keys (origin, dest, tailnum) and
the request's own fields; the rest comes from the online store.
"""

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from prodml.features import Entity, FeatureService, FeatureView, OnDemandFeatureView

TABLES = ".prodml/demo/features"

airport = Entity("airport", join_keys=("origin",))
plane = Entity("plane", join_keys=("tailnum",))
route = Entity("route", join_keys=("origin", "dest"))

weather = FeatureView(
    "weather",
    entity=airport,
    source=f"{TABLES}/weather.parquet",
    timestamp="observed_at",
    features=(
        "temp",
        "dewp",
        "humid",
        "wind_dir",
        "wind_speed",
        "wind_gust",
        "precip",
        "pressure",
        "visib",
    ),
    ttl=timedelta(hours=3),  # an older observation is not "the weather now"
    description="Hourly observations at the origin airport (°F, %, mph, inches, miles).",
)

planes = FeatureView(
    "planes",
    entity=plane,
    source=f"{TABLES}/planes.parquet",
    timestamp="registered_at",
    features=("year_built", "seats", "engines"),
    description="FAA registry attributes; they do not change, so no TTL.",
)

routes = FeatureView(
    "route_history",
    entity=route,
    source=f"{TABLES}/route_history.parquet",
    timestamp="as_of",
    features=("route_flights_28d", "route_delay_rate_28d"),
    ttl=timedelta(days=1),  # recomputed every day at local midnight
    description=(
        "Flights and share delayed on the route over the 28 days ending two days before "
        "`as_of`: every one of those flights had landed, so no label leaks from the future."
    ),
)


def plane_age(row: Mapping[str, Any]) -> dict[str, Any]:
    """Years since the plane was built, in the year of the flight."""
    built = row["year_built"]
    return {"plane_age": None if built is None else float(row["year"] - built)}


def dew_point_spread(row: Mapping[str, Any]) -> dict[str, Any]:
    """Temperature minus dew point: fog and low ceilings form as it nears zero."""
    temp, dewp = row["temp"], row["dewp"]
    return {"dew_point_spread": None if temp is None or dewp is None else temp - dewp}


flights = FeatureService(
    "flights",
    views=(weather, planes, routes),
    on_demand=(
        OnDemandFeatureView(
            "plane_age", inputs=("year", "year_built"), features=("plane_age",), function=plane_age
        ),
        OnDemandFeatureView(
            "dew_point_spread",
            inputs=("temp", "dewp"),
            features=("dew_point_spread",),
            function=dew_point_spread,
        ),
    ),
)
