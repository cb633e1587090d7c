"""Batch scoring of a Parquet or CSV file of any size, chunk by chunk, to Parquet.

Each row is checked against the served model's signature, as the HTTP API checks a request:
a numeric must be a finite number (or empty), a categorical with a small vocabulary one of
its training values (see `schemas.STRICT_CATEGORIES`). Rows that fail go to a rejects file
with the file's row number and every reason; the rest are scored with the same predictor
code as HTTP, uncertainty included, and logged to the prediction log as one Parquet
segment per chunk.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from prodml.errors import DataValidationError, NotFoundError
from prodml.serve.predictor import Predictor
from prodml.serve.predlog import PredictionLog
from prodml.serve.schemas import strict_vocabularies
from prodml.train import conformal

SCORE_COLUMN = "score"
ROW_COLUMN, REASON_COLUMN = "_row", "_reject_reason"


@dataclass(frozen=True)
class BatchResult:
    scored: int
    rejected: int
    batch_id: str
    rejects: Path  # where the rejected rows are, with their reasons


def score_file(
    predictor: Predictor,
    source: Path,
    destination: Path,
    *,
    rejects: Path | None = None,
    keep: Sequence[str] = (),
    chunk_rows: int = 100_000,
    log: PredictionLog | None = None,
    now: datetime | None = None,
    on_chunk: Callable[[int], None] | None = None,
) -> BatchResult:
    """Score every valid row of `source` into `destination`: the `keep` columns, the score,
    and the label and conformal set (classification) or interval (regression). Invalid
    rows go to `rejects` (default: beside the output, ``<name>.rejects.parquet``).

    Memory stays bounded by `chunk_rows`; `on_chunk` is told how many rows each chunk had.
    Both outputs appear under their final names only when the whole file is done.
    """
    model = predictor.model
    columns = list(dict.fromkeys([*keep, *model.spec.names]))
    rejects = rejects or destination.with_name(destination.stem + ".rejects.parquet")
    destination.parent.mkdir(parents=True, exist_ok=True)
    batch_id = f"batch-{uuid.uuid4().hex[:12]}"
    strict = {k: set(v) for k, v in strict_vocabularies(model).items()}
    outputs = {destination: _Output(destination), rejects: _Output(rejects)}
    scored = rejected = first_row = 0
    for chunk in _chunks(source, columns, model.spec.names, chunk_rows):
        frame = chunk.to_pandas()
        reasons = _check(frame, model.spec.numeric, strict)
        bad = reasons.notna().to_numpy()
        if bad.any():
            outputs[rejects].write(
                pa.Table.from_pandas(
                    frame[bad]
                    .astype("string")
                    .assign(
                        **{ROW_COLUMN: first_row + np.flatnonzero(bad), REASON_COLUMN: reasons[bad]}
                    ),
                    preserve_index=False,
                )
            )
        good = frame[~bad]
        table = _answers(predictor, good, chunk.filter(pa.array(~bad)).select(list(keep)))
        outputs[destination].write(table)
        if log is not None and len(good):
            log.append_table(_log_table(predictor, good, table, batch_id, first_row, ~bad, now))
        scored += len(good)
        rejected += int(bad.sum())
        first_row += len(frame)
        if on_chunk:
            on_chunk(len(frame))
    empty = _answers(predictor, pd.DataFrame(columns=list(model.spec.names)), None)
    outputs[destination].finish(empty.schema)
    outputs[rejects].finish(pa.schema([(ROW_COLUMN, pa.int64()), (REASON_COLUMN, pa.string())]))
    return BatchResult(scored, rejected, batch_id, rejects)


def _chunks(
    source: Path, columns: list[str], features: Sequence[str], chunk_rows: int
) -> Iterator[pa.Table]:
    """The file in chunks of `columns`; a CSV's feature columns are read as text, so the
    checks, not a guess from the first block, decide what is a number."""
    if not source.exists():
        raise NotFoundError(f"Batch input {source} does not exist.")
    if source.suffix.lower() == ".csv":
        header = pacsv.open_csv(source).schema.names
        _require(source, columns, header)
        reader = pacsv.open_csv(
            source,
            read_options=pacsv.ReadOptions(block_size=1 << 22),
            convert_options=pacsv.ConvertOptions(
                include_columns=columns,
                column_types=dict.fromkeys(features, pa.string()),
                strings_can_be_null=True,  # an empty cell (or NA, null) is a missing value
            ),
        )
        pending: list[pa.RecordBatch] = []
        size = 0
        for batch in reader:
            pending.append(batch)
            size += batch.num_rows
            if size >= chunk_rows:
                yield pa.Table.from_batches(pending)
                pending, size = [], 0
        if pending:
            yield pa.Table.from_batches(pending)
        return
    if source.suffix.lower() not in (".parquet", ".pq"):
        raise DataValidationError(
            f"{source}: batch scoring reads .parquet or .csv files; convert this one first."
        )
    file = pq.ParquetFile(source)
    _require(source, columns, file.schema_arrow.names)
    for batch in file.iter_batches(batch_size=chunk_rows, columns=columns):
        yield pa.Table.from_batches([batch])


def _require(source: Path, columns: list[str], found: list[str]) -> None:
    missing = [c for c in columns if c not in found]
    if missing:
        raise DataValidationError(
            f"{source}: missing column(s) {', '.join(missing)} that the model or --keep needs; "
            f"the file has {', '.join(found)}."
        )


def _check(frame: pd.DataFrame, numeric: Sequence[str], strict: dict[str, set[str]]) -> pd.Series:
    """Per row, every reason it cannot be scored joined by '; ', or null."""
    reasons = pd.Series(pd.NA, index=frame.index, dtype="string")

    def add(mask: np.ndarray, text: pd.Series) -> None:
        joined = reasons.where(reasons.isna(), reasons + "; ") + text
        reasons[mask] = joined.fillna(text)[mask]

    for name in numeric:
        raw = frame[name]
        values = pd.to_numeric(raw, errors="coerce")
        frame[name] = values.astype(float)
        not_number = (raw.notna() & values.isna()).to_numpy()
        if not_number.any():
            add(
                not_number, name + ": " + raw.astype("string").str.slice(0, 40) + " is not a number"
            )
        infinite = np.isinf(frame[name].to_numpy())
        if infinite.any():
            add(infinite, pd.Series(f"{name}: not a finite number", index=frame.index))
    for name, allowed in strict.items():
        text = frame[name].astype("string")
        unknown = (text.notna() & ~text.isin(allowed)).to_numpy()
        if unknown.any():
            add(unknown, name + ": " + text + f" is not one of the {len(allowed)} known values")
    return reasons


def _answers(predictor: Predictor, frame: pd.DataFrame, kept: pa.Table | None) -> pa.Table:
    """The `kept` columns, then the score and its uncertainty, vectorised."""
    model = predictor.model
    score = model.predict_frame(frame, num_threads=0) if len(frame) else np.empty(0)
    out = kept if kept is not None else pa.table({})
    out = out.append_column(SCORE_COLUMN, pa.array(score, pa.float64()))
    q = predictor.quantile
    if predictor.classifier:
        out = out.append_column("label", pa.array(score >= predictor.threshold, pa.bool_()))
        if q is not None:
            has_zero, has_one = conformal.membership(score, q)
            out = out.append_column("set_has_0", pa.array(has_zero, pa.bool_()))
            out = out.append_column("set_has_1", pa.array(has_one, pa.bool_()))
    elif q is not None:
        low, high = conformal.interval(score, q)
        out = out.append_column("lower", pa.array(low, pa.float64()))
        out = out.append_column("upper", pa.array(high, pa.float64()))
    return out


def _log_table(
    predictor: Predictor,
    frame: pd.DataFrame,
    answers: pa.Table,
    batch_id: str,
    first_row: int,
    good: np.ndarray,
    now: datetime | None,
) -> pa.Table:
    """The chunk's records in the prediction log's shape (one struct of inputs per row)."""
    n = len(frame)
    info = predictor.info
    inputs = pa.Table.from_pandas(frame[list(predictor.model.spec.names)], preserve_index=False)
    fields = {
        "request_id": pa.repeat(batch_id, n),
        "row": pa.array(first_row + np.flatnonzero(good), pa.int64()),
        "timestamp": pa.repeat((now or datetime.now().astimezone()).isoformat(), n),
        "channel": pa.repeat("batch", n),
        "model": pa.repeat(info.name, n),
        "version": pa.repeat(info.version, n),
        "inputs": inputs.to_struct_array().combine_chunks(),
        ("probability" if predictor.classifier else "value"): answers[SCORE_COLUMN],
    }
    if predictor.classifier:
        fields["label"] = pa.array(answers["label"].to_numpy().astype(np.int64))
        if "set_has_0" in answers.column_names:
            fields["prediction_set"] = _sets(answers)
    elif "lower" in answers.column_names:
        fields["interval"] = pa.FixedSizeListArray.from_arrays(
            pa.array(np.column_stack([answers["lower"], answers["upper"]]).ravel()), 2
        )
    fields["coverage"] = pa.array([predictor.coverage] * n, pa.float64())  # may be null
    return pa.table(fields)


def _sets(answers: pa.Table) -> pa.ListArray:
    """Each row's conformal set as a list of classes, from the two membership columns."""
    has = np.column_stack([answers["set_has_0"], answers["set_has_1"]]).astype(bool)
    offsets = np.concatenate([[0], np.cumsum(has.sum(axis=1))]).astype(np.int32)
    classes = np.broadcast_to(np.array([0, 1], dtype=np.int64), has.shape)[has]
    return pa.ListArray.from_arrays(pa.array(offsets), pa.array(classes))


class _Output:
    """A Parquet file written under a temporary name and renamed when complete."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.partial = path.with_name(path.name + ".partial")
        self.writer: pq.ParquetWriter | None = None

    def write(self, table: pa.Table) -> None:
        if self.writer is None:
            self.writer = pq.ParquetWriter(self.partial, table.schema, compression="zstd")
        self.writer.write_table(table.cast(self.writer.schema))

    def finish(self, empty_schema: pa.Schema) -> None:
        if self.writer is None:  # nothing written: still a valid, empty file
            pq.write_table(empty_schema.empty_table(), self.partial)
        else:
            self.writer.close()
        self.partial.replace(self.path)  # never a half-written file under the final name
