"""Point-in-time joins on DuckDB: each event sees only feature values from its past.

DuckDB's ASOF JOIN picks, per event, the latest feature row at or before the event's
timestamp for the same key; a TTL then drops values too old to trust. The frames are
scanned in place by DuckDB (no copy through Python rows).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path

import duckdb
import pandas as pd

from prodml.features.definitions import FeatureService, FeatureView


def point_in_time_join(
    events: pd.DataFrame,
    features: pd.DataFrame,
    *,
    keys: Sequence[str],
    event_time: str,
    feature_time: str,
    columns: Sequence[str],
    ttl: timedelta | None = None,
) -> pd.DataFrame:
    """`events` with `columns` of the latest `features` row at or before each event.

    A feature row counts only if ``feature_time <= event_time`` (never the future) and,
    with a `ttl`, ``event_time - feature_time <= ttl``; otherwise the columns are null.
    Row order and count of `events` are kept.

    >>> import pandas as pd
    >>> ev = pd.DataFrame({"k": ["a"], "t": pd.to_datetime(["2013-01-01 10:00"])})
    >>> ft = pd.DataFrame(
    ...     {
    ...         "k": ["a", "a"],
    ...         "ts": pd.to_datetime(["2013-01-01 09:00", "2013-01-01 11:00"]),
    ...         "x": [1.0, 2.0],
    ...     }
    ... )
    >>> point_in_time_join(ev, ft, keys=["k"], event_time="t", feature_time="ts", columns=["x"])[
    ...     "x"
    ... ].tolist()
    [1.0]
    """
    _require_columns(list(events.columns), [*keys, event_time], "events")
    _require_columns(list(features.columns), [*keys, feature_time, *columns], "features")
    _same_kind_of_time(events[event_time], features[feature_time], event_time, feature_time)
    clash = sorted(set(columns) & set(events.columns))
    if clash:
        raise ValueError(
            f"Feature column(s) {clash} already exist in the events; rename them first."
        )
    et, ft = _ident(event_time), _ident(feature_time)
    on_keys = " AND ".join(f"e.{_ident(k)} = f.{_ident(k)}" for k in keys)
    fresh = "TRUE" if ttl is None else f"e.{et} - f.{ft} <= {_interval(ttl)}"
    picked = ", ".join(f"CASE WHEN {fresh} THEN f.{_ident(c)} END AS {_ident(c)}" for c in columns)
    # Only quoted identifiers and a number are interpolated; values never enter the SQL.
    query = f"""
        SELECT e.* EXCLUDE (__row), {picked}
        FROM (SELECT *, row_number() OVER () AS __row FROM events) AS e
        ASOF LEFT JOIN features AS f
          ON {on_keys} AND e.{et} >= f.{ft}
        ORDER BY e.__row
    """
    with duckdb.connect() as con:
        # Comparisons and results must not depend on the machine's local time zone.
        con.execute("SET TimeZone = 'UTC'")
        con.register("events", events)
        con.register("features", features)
        return con.execute(query).df()


def _same_kind_of_time(left: pd.Series, right: pd.Series, lname: str, rname: str) -> None:
    aware = [isinstance(s.dtype, pd.DatetimeTZDtype) for s in (left, right)]
    if aware[0] != aware[1]:
        which = lambda flag: "timezone-aware" if flag else "naive"  # noqa: E731
        raise ValueError(
            f"events.{lname} is {which(aware[0])} but features.{rname} is {which(aware[1])}; "
            "comparing them would shift one by the local offset. Make both UTC, e.g. "
            "pd.to_datetime(col, utc=True)."
        )


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def get_training_set(
    events: pd.DataFrame | str | os.PathLike[str],
    service: FeatureService,
    *,
    event_timestamp: str,
    output: str | os.PathLike[str] | None = None,
) -> pd.DataFrame | Path:
    """`events` with every feature of `service` as of each event's time.

    Per view: the latest feature row of the event's entity at or before the event time
    (never the future), within the view's TTL; rows with the same key and time are told
    apart by their created timestamp. `events` may be a DataFrame or a Parquet file, folder
    or glob; with `output`, the result streams to that Parquet file without ever being
    held in Python, and its path is returned. Row order and count of `events` are kept.
    """
    with duckdb.connect() as con:
        con.execute("SET TimeZone = 'UTC'")
        if isinstance(events, pd.DataFrame):
            con.register("__events", events)
            relation = "__events"
            names = list(events.columns)
        else:
            relation = f"read_parquet({_literal(os.fspath(events))})"
            described = con.execute(f"DESCRIBE SELECT * FROM {relation}").fetchall()
            names = [row[0] for row in described]
        _require_columns(names, [event_timestamp], "events")
        ctes, joins, picked = [], [], []
        for i, view in enumerate(service.views):
            _require_columns(names, list(view.entity.join_keys), f"events (for view {view.name!r})")
            ctes.append(f"__v{i} AS ({_latest_rows(view)})")
            on = " AND ".join(f"e.{_ident(k)} = __v{i}.{_ident(k)}" for k in view.entity.join_keys)
            joins.append(
                f"ASOF LEFT JOIN __v{i} ON {on} AND e.{_ident(event_timestamp)} >= __v{i}.__ts"
            )
            age = f"e.{_ident(event_timestamp)} - __v{i}.__ts"
            fresh = "TRUE" if view.ttl is None else f"{age} <= {_interval(view.ttl)}"
            picked += [
                f"CASE WHEN {fresh} THEN __v{i}.{_ident(f)} END AS {_ident(f)}"
                for f in view.features
            ]
        clash = sorted(set(service.features) & set(names))
        if clash:
            raise ValueError(f"Feature column(s) {clash} already exist in the events; rename them.")
        # Identifiers are quoted and paths are literals: no value is interpolated as SQL.
        query = (f"WITH {', '.join(ctes)} " if ctes else "") + (
            f"SELECT e.* EXCLUDE (__row){''.join(', ' + p for p in picked)} "
            f"FROM (SELECT *, row_number() OVER () AS __row FROM {relation}) AS e "
            f"{' '.join(joins)} ORDER BY e.__row"
        )
        if output is None:
            return con.execute(query).df()
        target = Path(output)
        con.execute(f"COPY ({query}) TO {_literal(str(target))} (FORMAT parquet)")
        return target


def _latest_rows(view: FeatureView) -> str:
    """The view's rows, one per key and time: the latest created when there are several."""
    keys = ", ".join(_ident(k) for k in view.entity.join_keys)
    features = ", ".join(_ident(f) for f in view.features)
    order = f"{_ident(view.created_timestamp)} DESC" if view.created_timestamp else features
    return (
        f"SELECT {keys}, {_ident(view.timestamp)} AS __ts, {features} "
        f"FROM read_parquet({_literal(view.source)}) "
        f"QUALIFY row_number() OVER (PARTITION BY {keys}, {_ident(view.timestamp)} "
        f"ORDER BY {order}) = 1"
    )


def _interval(ttl: timedelta) -> str:
    return f"INTERVAL {ttl.total_seconds()} SECOND"


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _require_columns(names: Sequence[str], needed: Sequence[str], where: str) -> None:
    missing = [c for c in needed if c not in names]
    if missing:
        raise ValueError(f"{where} has no column(s) {missing}; it has {list(names)}.")


def latest_per_key(view: FeatureView, start: datetime | None, end: datetime | None) -> str:
    """SQL for the newest row per entity key with `start <= time < end` (as `__ts`)."""
    keys = ", ".join(_ident(k) for k in view.entity.join_keys)
    where = []
    if start is not None:
        where.append(f"__ts >= {_literal(start.isoformat())}::TIMESTAMPTZ")
    if end is not None:
        where.append(f"__ts < {_literal(end.isoformat())}::TIMESTAMPTZ")
    return (
        f"SELECT * FROM ({_latest_rows(view)}) "
        f"{'WHERE ' + ' AND '.join(where) if where else ''} "
        f"QUALIFY row_number() OVER (PARTITION BY {keys} ORDER BY __ts DESC) = 1"
    )


def sample_entities(view: FeatureView, sample: int, seed: int = 0) -> pd.DataFrame:
    """Up to `sample` distinct entity keys of the view's rows, a seeded pseudo-random pick."""
    keys = ", ".join(_ident(k) for k in view.entity.join_keys)
    with duckdb.connect() as con:
        return con.execute(
            f"SELECT DISTINCT {keys} FROM read_parquet({_literal(view.source)}) "
            f"ORDER BY hash({keys}, {int(seed)}) LIMIT {int(sample)}"
        ).df()
