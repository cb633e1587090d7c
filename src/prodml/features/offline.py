"""Point-in-time joins on DuckDB: each event sees only feature values from its past.

DuckDB's ASOF JOIN picks, per event, the latest feature row at or before the event's
timestamp for the same key; a TTL then drops values too old to trust. The frames are
scanned in place by DuckDB (no copy through Python rows).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

import duckdb
import pandas as pd


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
    _require(events, [*keys, event_time], "events")
    _require(features, [*keys, feature_time, *columns], "features")
    _same_kind_of_time(events[event_time], features[feature_time], event_time, feature_time)
    clash = sorted(set(columns) & set(events.columns))
    if clash:
        raise ValueError(
            f"Feature column(s) {clash} already exist in the events; rename them first."
        )
    et, ft = _ident(event_time), _ident(feature_time)
    on_keys = " AND ".join(f"e.{_ident(k)} = f.{_ident(k)}" for k in keys)
    fresh = "TRUE" if ttl is None else f"e.{et} - f.{ft} <= INTERVAL {ttl.total_seconds()} SECOND"
    picked = ", ".join(f"CASE WHEN {fresh} THEN f.{_ident(c)} END AS {_ident(c)}" for c in columns)
    # Only quoted identifiers and a number are interpolated; values never enter the SQL.
    query = f"""
        SELECT e.* EXCLUDE (__row), {picked}
        FROM (SELECT *, row_number() OVER () AS __row FROM events) AS e
        ASOF LEFT JOIN features AS f
          ON {on_keys} AND e.{et} >= f.{ft}
        ORDER BY e.__row
    """  # noqa: S608
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


def _require(frame: pd.DataFrame, columns: Sequence[str], name: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{name} has no column(s) {missing}; it has {list(frame.columns)}.")
