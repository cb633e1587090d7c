"""A pandas DataFrame or Arrow table already in memory."""

from __future__ import annotations

from collections.abc import Iterator

import pandas as pd
import pyarrow as pa

from prodml.data.sources.files import check_columns


class MemorySource:
    def __init__(self, data: pd.DataFrame | pa.Table, name: str | None = None) -> None:
        self.name = name or type(data).__name__
        check_columns([str(c) for c in data.columns] if isinstance(data, pd.DataFrame)
                      else data.column_names, self.name)  # fmt: skip
        self._table = (
            pa.Table.from_pandas(data, preserve_index=False)
            if isinstance(data, pd.DataFrame)
            else data
        )

    def batches(self, chunk_rows: int = 100_000) -> Iterator[pa.RecordBatch]:
        yield from self._table.to_batches(max_chunksize=chunk_rows)
