"""A pandas DataFrame or Arrow table already in memory."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import pandas as pd
import pyarrow as pa

from prodml.data._arrow import to_arrow
from prodml.data.sources.files import check_columns


class MemorySource:
    def __init__(self, data: pd.DataFrame | pa.Table, name: str | None = None) -> None:
        self.name = name or type(data).__name__
        check_columns(
            [str(c) for c in data.columns] if isinstance(data, pd.DataFrame) else data.column_names,
            self.name,
        )
        self._table = to_arrow(data) if isinstance(data, pd.DataFrame) else data

    def fingerprint(self) -> str:
        """A hash of every cell (in order): cheap next to validating the rows again."""
        frame = self._table.to_pandas()
        rows = pd.util.hash_pandas_object(frame, index=False).to_numpy()
        return f"{self._table.schema}|{hashlib.sha256(rows.tobytes()).hexdigest()}"

    def batches(self, chunk_rows: int = 100_000) -> Iterator[pa.RecordBatch]:
        yield from self._table.to_batches(max_chunksize=chunk_rows)
