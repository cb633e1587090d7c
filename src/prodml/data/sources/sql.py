"""The result of a SQL query against any SQLAlchemy URL, fetched in chunks."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pyarrow as pa
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from prodml.data.sources.files import check_columns
from prodml.errors import ConfigError, SourceError


class SqlSource:
    def __init__(self, url: str, query: str) -> None:
        self.url = url
        self.query = query
        self.name = f"query on {make_url(url).render_as_string(hide_password=True)}"

    def batches(self, chunk_rows: int = 100_000) -> Iterator[pa.RecordBatch]:
        try:
            engine = create_engine(self.url)
        except ModuleNotFoundError as exc:
            raise ConfigError(
                f"{self.name}: the driver '{exc.name}' is not installed "
                "(for PostgreSQL: pip install 'prodml[postgres]')."
            ) from None
        try:
            # A server-side cursor: rows arrive chunk by chunk, never all at once.
            with engine.connect().execution_options(stream_results=True) as conn:
                result = conn.execute(text(self.query))
                names = list(result.keys())
                check_columns(names, self.name)
                for rows in result.partitions(chunk_rows):
                    columns: list[Any] = list(zip(*rows, strict=True))
                    yield pa.RecordBatch.from_arrays([_array(c) for c in columns], names=names)
        except SQLAlchemyError as exc:
            orig = getattr(exc, "orig", None) or exc
            raise SourceError(f"{self.name}: the query failed: {str(orig).strip()}") from exc
        finally:
            engine.dispose()


def _array(values: Any) -> pa.Array:
    """A column of Python values; one that mixes types (SQLite allows it) becomes text,
    for the contract to type cell by cell."""
    try:
        return pa.array(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return pa.array([None if v is None else str(v) for v in values], pa.string())
