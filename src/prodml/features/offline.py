"""The offline store: point-in-time training sets on DuckDB over Parquet.

DuckDB's ASOF JOIN picks, per event, the latest feature row at or before the event's
timestamp for the same key; a TTL then drops values too old to trust. Events and feature
files are scanned in place by DuckDB: nothing is pulled into Python rows except for
on-demand features, which run per row exactly as at serving.
"""

from __future__ import annotations

import os
import tempfile
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from prodml.features.definitions import FeatureService, FeatureView


def get_training_set(
    events: pd.DataFrame | str | os.PathLike[str],
    service: FeatureService,
    *,
    event_timestamp: str,
    output: str | os.PathLike[str] | None = None,
    chunk_rows: int = 100_000,
) -> pd.DataFrame | Path:
    """`events` with every feature of `service` as of each event's time.

    Per view: the latest feature row of the event's entity at or before the event time
    (never the future), within the view's TTL; rows with the same key and time are told
    apart by their created timestamp. On-demand features are then computed per row by the
    same function serving uses. `events` may be a DataFrame or a Parquet file, folder or
    glob; with `output`, the result streams to that Parquet file in chunks of `chunk_rows`
    and its path is returned. Row order and count of `events` are kept.
    """
    with duckdb.connect() as con:
        con.execute("SET TimeZone = 'UTC'")
        return _training_set(con, events, service, event_timestamp, output, chunk_rows)


def _training_set(
    con: duckdb.DuckDBPyConnection,
    events: pd.DataFrame | str | os.PathLike[str],
    service: FeatureService,
    event_timestamp: str,
    output: str | os.PathLike[str] | None,
    chunk_rows: int,
) -> pd.DataFrame | Path:
    """The work of `get_training_set` on an open connection."""
    with view_sources(con, service.views) as sources:
        if isinstance(events, pd.DataFrame):
            con.register("__events", events)
            relation = "__events"
        else:
            relation = f"read_parquet({_literal(os.fspath(events))})"
        _check_events(con, relation, service, event_timestamp, sources)
        # Identifiers are quoted and paths are literals: no value is interpolated as SQL.
        # Each event is numbered from 0 in its order, so that every result can be put back
        # in that order by its number.
        con.execute(
            f"CREATE TEMP TABLE __e AS SELECT *, row_number() OVER () - 1 AS __row FROM {relation}"
        )
        for i, view in enumerate(service.views):
            as_of = _as_of(view, sources[view.name], _ident(event_timestamp))
            con.execute(f"CREATE TEMP TABLE __j{i} AS {as_of}")
        if output is None:
            return _with_on_demand(_in_event_order(con, service), service)
        target = Path(output)
        query = _joined_back(service)
        if not service.on_demand:
            con.execute(f"COPY ({query}) TO {_literal(str(target))} (FORMAT parquet)")
            return target
        _write_chunks(
            con.sql(query).to_arrow_reader(chunk_rows),
            target,
            lambda batch: _with_on_demand(batch.to_pandas(), service),
        )
        return target


def _check_events(
    con: duckdb.DuckDBPyConnection,
    relation: str,
    service: FeatureService,
    event_timestamp: str,
    sources: dict[str, str],
) -> None:
    """Raise ValueError, saying what to change, unless the events can be joined to every
    view of `service`."""
    types = _column_types(con, relation)
    names = list(types)
    _require_columns(names, [event_timestamp], "events")
    for view in service.views:
        _require_columns(names, list(view.entity.join_keys), f"events (for view {view.name!r})")
        _same_kind_of_time(
            types[event_timestamp],
            _column_types(con, sources[view.name])[view.timestamp],
            f"events.{event_timestamp}",
            f"view {view.name!r}'s {view.timestamp}",
        )
    _require_columns(names, list(service.request_inputs), "events (for on-demand features)")
    clash = sorted(set(service.features) & set(names))
    if clash:
        raise ValueError(f"Feature column(s) {clash} already exist in the events; rename them.")


def _as_of(view: FeatureView, relation: str, et: str) -> str:
    """SQL for `__row` and the view's features of each event (in table `__e`): the latest
    row of the event's key at or before its time, within the TTL, ties in time going to
    the latest created (or, without a created timestamp, the last written) row."""
    # Each view is ASOF-joined to the events' keys and times alone: no join carries another
    # view's columns (with ten wide views a chain of joins drags every earlier view through
    # every later one).
    on = " AND ".join(f"e.{_ident(k)} = v.{_ident(k)}" for k in view.entity.join_keys)
    # Subtracting a constant interval from the event time is cheaper than comparing the
    # interval between the two times, and the same test.
    fresh = "" if view.ttl is None else f"WHERE v.__ts >= e.{et} - {_interval(view.ttl)}"
    row_key, event_key = _ordering_keys(view, f"e.{et}")
    keys = ", ".join(_ident(k) for k in view.entity.join_keys)
    rows = (
        f"SELECT {keys}, {_ident(view.timestamp)} AS __ts, {row_key} AS __key, "
        f"{', '.join(_ident(f) for f in view.features)} "
        f"FROM {relation} WHERE {_ident(view.timestamp)} IS NOT NULL"
    )
    picked = ", ".join(f"v.{_ident(f)}" for f in view.features)
    return (
        f"SELECT e.__row, {picked} FROM __e AS e ASOF JOIN ({rows}) AS v "
        f"ON {on} AND {event_key} >= v.__key {fresh}"
    )


def _ordering_keys(view: FeatureView, event_time: str) -> tuple[str, str]:
    """SQL for the sort key of a view's row and of an event, such that the greatest row key
    at or below an event's key is the row a point-in-time join must pick.

    A row's key is (time, false, tie-breakers); an event's is (time, true, nulls), so it
    sorts after every row of its own time and the ASOF join breaks ties itself, with no
    pass over the view to deduplicate (times and flags decide before any null is reached).
    Tie-breakers: a known created timestamp beats an unknown one, then the latest wins;
    without a created timestamp, the last written row (file, then position)."""
    ts = _ident(view.timestamp)
    if view.created_timestamp:
        created = _ident(view.created_timestamp)
        ties = {"known": f"{created} IS NOT NULL", "created": created}
    else:
        ties = {"file": "__file", "pos": "__pos"}
    row = {"t": ts, "event": "false", **ties}
    event = {"t": event_time, "event": "true", **dict.fromkeys(ties, "NULL")}
    # An event without a time has no key, so it matches nothing (as `>=` on NULL would).
    return _struct(row), f"(CASE WHEN {event_time} IS NOT NULL THEN {_struct(event)} END)"


def _struct(fields: dict[str, str]) -> str:
    return "{" + ", ".join(f"{_literal(k)}: {v}" for k, v in fields.items()) + "}"


def _joined_back(service: FeatureService) -> str:
    """SQL for the events with every view's features, in the events' order: for a result
    streamed to Parquet, where DuckDB can sort beyond memory."""
    joins = " ".join(
        f"LEFT JOIN __j{i} ON __j{i}.__row = e.__row" for i in range(len(service.views))
    )
    picked = "".join(
        f", __j{i}.{_ident(f)}" for i, view in enumerate(service.views) for f in view.features
    )
    return f"SELECT e.* EXCLUDE (__row){picked} FROM __e AS e {joins} ORDER BY e.__row"


def _in_event_order(con: duckdb.DuckDBPyConnection, service: FeatureService) -> pd.DataFrame:
    """The events with every view's features, as a DataFrame in the events' order.

    Each event's place is its number, so each view's rows are moved there directly instead
    of being joined back to the events and sorted with them (a DataFrame is in memory
    anyway)."""
    # DuckDB converts both parts, so column types are those of a query's `.df()`; the
    # events (which may hold categories) go straight from their table.
    events = con.sql("SELECT * EXCLUDE (__row) FROM __e ORDER BY __row").df()
    parts = [
        _at_rows(con.table(f"__j{i}").to_arrow_table(), len(events))
        for i in range(len(service.views))
    ]
    if not parts:  # a service of on-demand features alone
        return events
    features = pa.Table.from_arrays(
        [column for part in parts for column in part.columns],
        names=[name for part in parts for name in part.column_names],
    )
    return pd.concat([events, _to_pandas(con, features)], axis=1)


def _to_pandas(con: duckdb.DuckDBPyConnection, table: pa.Table) -> pd.DataFrame:
    """`table` as a DataFrame with the column types DuckDB's `.df()` gives."""
    # Arrow and DuckDB agree on floating-point columns (NaN for null), and arrow converts
    # them far faster when there are hundreds; DuckDB converts the rest its own way
    # (nullable integers and booleans only where there are nulls, dates as datetimes, …).
    floating = [f.name for f in table.schema if pa.types.is_floating(f.type)]
    others = [name for name in table.column_names if name not in set(floating)]
    parts = [table.select(floating).to_pandas()] if floating else []
    if others:
        parts.append(con.from_arrow(table.select(others)).df())
    return pd.concat(parts, axis=1)[table.column_names]


def _at_rows(table: pa.Table, count: int) -> pa.Table:
    """`table` (with a `__row` column) as `count` rows, row `__row` at position `__row` and
    nulls where it has none."""
    where = np.full(count, -1, dtype=np.int64)
    where[table["__row"].to_numpy()] = np.arange(table.num_rows)
    return table.drop_columns("__row").take(pa.array(where, mask=where < 0))


def _with_on_demand(frame: pd.DataFrame, service: FeatureService) -> pd.DataFrame:
    """`frame` with the service's on-demand features, computed row by row as serving does."""
    if not service.on_demand:
        return frame
    # Only the inputs are converted, and missing values reach the function as None, as they
    # do at serving.
    names = (i for odf in service.on_demand for i in odf.inputs if i in frame.columns)
    inputs = frame[list(dict.fromkeys(names))]
    plain = inputs.astype(object).where(inputs.notna(), None)
    rows = [
        service.add_on_demand({str(k): v for k, v in r.items()}) for r in plain.to_dict("records")
    ]
    added = [f for odf in service.on_demand for f in odf.features]
    return frame.assign(**{f: [row[f] for row in rows] for f in added})


@contextmanager
def view_sources(
    con: duckdb.DuckDBPyConnection, views: Iterable[FeatureView]
) -> Iterator[dict[str, str]]:
    """The SQL relation of each view's rows: its Parquet source or, for a view with a
    transformation, that source transformed once, in chunks, into a temporary file. Without
    a created timestamp, each row carries its position (`__file`, `__pos`) so that among
    rows with the same key and time the last written wins."""
    with tempfile.TemporaryDirectory(prefix="prodml-views-") as tmp:
        relations = {}
        for i, view in enumerate(views):
            path = view.source
            if view.transformation is not None:
                path = str(Path(tmp) / f"{i}.parquet")
                _transform(con, view, f"read_parquet({_literal(view.source)})", Path(path))
            relations[view.name] = (
                f"read_parquet({_literal(path)})"
                if view.created_timestamp
                else f"(SELECT * RENAME (file_row_number AS __pos) FROM read_parquet("
                f"{_literal(path)}, filename = '__file', file_row_number = true))"
            )
        yield relations


def _transform(
    con: duckdb.DuckDBPyConnection, view: FeatureView, relation: str, path: Path
) -> None:
    assert view.transformation is not None
    transformation = view.transformation
    needed = [*view.entity.join_keys, view.timestamp, *view.features]
    if view.created_timestamp:
        needed.append(view.created_timestamp)

    def apply(batch: pa.RecordBatch) -> pd.DataFrame:
        frame = transformation(batch.to_pandas())
        _require_columns(list(frame.columns), needed, f"view {view.name!r}'s transformation output")
        return frame[needed]

    reader = con.sql(f"SELECT * FROM {relation}").to_arrow_reader(100_000)
    _write_chunks(reader, path, apply)


def _write_chunks(
    reader: pa.RecordBatchReader, path: Path, convert: Callable[[pa.RecordBatch], pd.DataFrame]
) -> None:
    """Write `convert(batch)` for every batch to one Parquet file, in the first chunk's
    schema (an all-null column in a later chunk would otherwise change type)."""
    writer: pq.ParquetWriter | None = None
    try:
        for batch in reader:
            table = _to_arrow(convert(batch))
            if writer is None:
                writer = pq.ParquetWriter(path, table.schema)
            writer.write_table(table.cast(writer.schema))
        if writer is None:  # no rows: still a file with the right columns
            empty = convert(pa.RecordBatch.from_pylist([], schema=reader.schema))
            pq.write_table(_to_arrow(empty), path)
    finally:
        if writer is not None:
            writer.close()


def _to_arrow(frame: pd.DataFrame) -> pa.Table:
    with warnings.catch_warnings():
        # pyarrow reads a time-zone-aware column through `Series.values` (UTC instants, the
        # zone taken from the dtype), which pandas 3.1 flags as deprecated; the result is
        # right, so the warning is not the user's concern.
        warnings.filterwarnings("ignore", "Series.values returning", category=Warning)
        return pa.Table.from_pandas(frame, preserve_index=False)


def _column_types(con: duckdb.DuckDBPyConnection, relation: str) -> dict[str, str]:
    return {row[0]: row[1] for row in con.execute(f"DESCRIBE SELECT * FROM {relation}").fetchall()}


def _same_kind_of_time(left: str, right: str, lname: str, rname: str) -> None:
    aware = ["TIME ZONE" in t for t in (left, right)]
    if aware[0] != aware[1]:
        which = lambda flag: "timezone-aware" if flag else "naive"  # noqa: E731
        raise ValueError(
            f"{lname} is {which(aware[0])} but {rname} is {which(aware[1])}; comparing them "
            "would shift one by the local offset. Make both UTC, e.g. "
            "pd.to_datetime(col, utc=True)."
        )


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _latest_rows(view: FeatureView, relation: str) -> str:
    """The view's rows, one per key and time: the latest created or, without a created
    timestamp, the last written."""
    keys = ", ".join(_ident(k) for k in view.entity.join_keys)
    features = ", ".join(_ident(f) for f in view.features)
    order = (
        f"{_ident(view.created_timestamp)} DESC"
        if view.created_timestamp
        else "__file DESC, __pos DESC"
    )
    return (
        f"SELECT {keys}, {_ident(view.timestamp)} AS __ts, {features} "
        f"FROM {relation} "
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


def latest_per_key(
    view: FeatureView, relation: str, start: datetime | None, end: datetime | None
) -> str:
    """SQL for the newest row per entity key with `start <= time < end` (as `__ts`), from
    the view's rows at `relation` (see `view_sources`)."""
    keys = ", ".join(_ident(k) for k in view.entity.join_keys)
    return (
        f"{_rows_between(view, relation, start, end)} "
        f"QUALIFY row_number() OVER (PARTITION BY {keys} ORDER BY __ts DESC) = 1"
    )


def _rows_between(
    view: FeatureView, relation: str, start: datetime | None, end: datetime | None
) -> str:
    where = []
    if start is not None:
        where.append(f"__ts >= {_literal(start.isoformat())}::TIMESTAMPTZ")
    if end is not None:
        where.append(f"__ts < {_literal(end.isoformat())}::TIMESTAMPTZ")
    return (
        f"SELECT * FROM ({_latest_rows(view, relation)}) "
        f"{'WHERE ' + ' AND '.join(where) if where else ''}"
    )


def rows_between(view: FeatureView, start: datetime, end: datetime) -> pd.DataFrame:
    """The view's rows (transformed, one per key and time) with `start <= time < end`,
    oldest first, time as `__ts`: what a streaming pipeline would push over that span."""
    with duckdb.connect() as con:
        con.execute("SET TimeZone = 'UTC'")
        with view_sources(con, [view]) as sources:
            query = _rows_between(view, sources[view.name], start, end)
            return con.execute(f"{query} ORDER BY __ts").df()


def sample_entities(view: FeatureView, sample: int, seed: int = 0) -> pd.DataFrame:
    """Up to `sample` distinct entity keys of the view's source rows, a seeded pseudo-random
    pick (a transformation never changes keys, so the raw source is enough)."""
    keys = ", ".join(_ident(k) for k in view.entity.join_keys)
    with duckdb.connect() as con:
        return con.execute(
            f"SELECT DISTINCT {keys} FROM read_parquet({_literal(view.source)}) "
            f"ORDER BY hash({keys}, {int(seed)}) LIMIT {int(sample)}"
        ).df()
