"""Where rows come from: files (CSV, Parquet), SQL queries and in-memory tables.

Every source streams Arrow record batches of bounded size, so an input larger than
memory is read a chunk at a time. `open_source` picks the implementation from what it is
given; each implementation lives in its own module and is imported only when used.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

DEFAULT_CHUNK_ROWS = 100_000
_SQL_SCHEMES = ("postgresql", "sqlite", "mysql", "mariadb", "mssql", "oracle", "duckdb")


@runtime_checkable
class Source(Protocol):
    """A table that can be read in chunks. `name` says where it is, for messages."""

    name: str

    def batches(self, chunk_rows: int = DEFAULT_CHUNK_ROWS) -> Iterator[pa.RecordBatch]: ...


@runtime_checkable
class Fingerprinted(Protocol):
    """A source that can tell cheaply whether its input changed since it was last read."""

    def fingerprint(self) -> str: ...


def open_source(
    spec: str | os.PathLike[str] | pd.DataFrame | pa.Table,
    *,
    query: str | None = None,
    file_format: str | None = None,
    null_values: Sequence[str] = ("",),
) -> Source:
    """The source for `spec`: a DataFrame or Arrow table, a database URL with `query`, or
    a file, folder or glob (local or any fsspec URL) of CSV or Parquet.

    >>> import pandas as pd
    >>> open_source(pd.DataFrame({"a": [1, 2]})).name
    'DataFrame'
    """
    if _in_memory(spec):
        from prodml.data.sources.memory import MemorySource

        return MemorySource(spec)
    text = os.fspath(spec)  # type: ignore[arg-type]
    if "://" in text and text.split(":", 1)[0].split("+", 1)[0] in _SQL_SCHEMES:
        from prodml.data.sources.sql import SqlSource

        if not query:
            raise ValueError(f"{text} is a database URL: pass the query to read, e.g. --query.")
        return SqlSource(text, query)
    from prodml.data.sources.files import FileSource

    return FileSource(text, file_format=file_format, null_values=null_values)


def _in_memory(spec: object) -> bool:
    # Only a loaded pandas or pyarrow can have made a frame: no import needed to ask.
    pandas, pyarrow = sys.modules.get("pandas"), sys.modules.get("pyarrow")
    return (pandas is not None and isinstance(spec, pandas.DataFrame)) or (
        pyarrow is not None and isinstance(spec, pyarrow.Table)
    )


__all__ = ["DEFAULT_CHUNK_ROWS", "Fingerprinted", "Source", "open_source"]
