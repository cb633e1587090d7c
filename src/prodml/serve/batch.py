"""Batch scoring of a Parquet file of any size, chunk by chunk, to Parquet."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from prodml.errors import DataValidationError, NotFoundError
from prodml.train.model import TrainedModel

SCORE_COLUMN = "score"


def score_parquet(
    model: TrainedModel,
    source: Path,
    destination: Path,
    *,
    keep: Sequence[str] = (),
    chunk_rows: int = 100_000,
    on_chunk: Callable[[int], None] | None = None,
) -> int:
    """Score every row of `source` into `destination` (the `keep` columns plus the score).

    Memory stays bounded by `chunk_rows`; `on_chunk` is told how many rows each chunk had.
    Returns the number of rows scored.
    """
    if not source.exists():
        raise NotFoundError(f"Batch input {source} does not exist.")
    reader = pq.ParquetFile(source)
    missing = [c for c in (*model.spec.names, *keep) if c not in reader.schema_arrow.names]
    if missing:
        raise DataValidationError(
            f"{source}: missing column(s) {', '.join(missing)} that the model or --keep needs; "
            f"the file has {', '.join(reader.schema_arrow.names)}."
        )
    destination.parent.mkdir(parents=True, exist_ok=True)
    partial = destination.with_name(destination.name + ".partial")
    columns = list(dict.fromkeys([*keep, *model.spec.names]))
    total = 0
    writer: pq.ParquetWriter | None = None
    try:
        for batch in reader.iter_batches(batch_size=chunk_rows, columns=columns):
            chunk = pa.table(batch)
            frame = chunk.select(list(model.spec.names)).to_pandas()
            # Kept columns go through untouched, as Arrow: no pandas round trip, no type drift.
            out = chunk.select(list(keep)).append_column(
                SCORE_COLUMN, pa.array(model.predict_frame(frame), pa.float64())
            )
            if writer is None:
                writer = pq.ParquetWriter(partial, out.schema, compression="zstd")
            writer.write_table(out)
            total += len(frame)
            if on_chunk:
                on_chunk(len(frame))
    finally:
        if writer is not None:
            writer.close()
    if writer is None:  # an empty input still yields a valid, empty output
        pq.write_table(pa.table({SCORE_COLUMN: pa.array([], pa.float64())}), partial)
    partial.replace(destination)  # never leave a half-written output under the final name
    return total
