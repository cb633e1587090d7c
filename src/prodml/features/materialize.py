"""Load the latest value per entity from a view's offline rows into an online store."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import duckdb

from prodml.features.definitions import FeatureView
from prodml.features.offline import latest_per_key, view_sources
from prodml.features.online import OnlineStore


def materialize(
    view: FeatureView,
    store: OnlineStore,
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    chunk_rows: int = 50_000,
    on_rows: Callable[[int], None] | None = None,
) -> int:
    """Write, per entity key, the newest row with `start <= time < end` (both optional).

    Rows stream from DuckDB in chunks, so memory is bounded by `chunk_rows`; the store
    keeps the newest value, so overlapping or repeated runs are harmless. Returns the
    number of keys written. A view's transformation runs first, as it does for training.
    A run from the beginning (no `start`) up to `end` is recorded as the store's mark for
    the view, where `materialize_incremental` goes on from.
    """
    keys = list(view.entity.join_keys)
    written = 0
    with duckdb.connect() as con:
        con.execute("SET TimeZone = 'UTC'")
        with view_sources(con, [view]) as sources:
            query = latest_per_key(view, sources[view.name], start, end)
            reader = con.sql(query).to_arrow_reader(chunk_rows)
            for batch in reader:
                columns = batch.to_pydict()
                rows = [
                    (
                        tuple(columns[k][i] for k in keys),
                        columns["__ts"][i],
                        {f: columns[f][i] for f in view.features},
                    )
                    for i in range(batch.num_rows)
                ]
                written += store.write(view, rows)
                if on_rows:
                    on_rows(batch.num_rows)
    if start is None and end is not None:
        store.set_materialized_until(view, end)
    return written


def materialize_incremental(
    view: FeatureView,
    store: OnlineStore,
    *,
    end: datetime,
    chunk_rows: int = 50_000,
    on_rows: Callable[[int], None] | None = None,
) -> tuple[datetime | None, int]:
    """Materialize what arrived since the store's mark for `view` (everything, the first
    time or after the view changed) up to `end`, and move the mark to `end`. Returns the
    start used and the number of keys written."""
    start = store.materialized_until(view)
    written = materialize(view, store, start=start, end=end, chunk_rows=chunk_rows, on_rows=on_rows)
    store.set_materialized_until(view, end)
    return start, written
