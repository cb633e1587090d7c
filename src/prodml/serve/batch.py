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
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from prodml.errors import DataValidationError, NotFoundError
from prodml.predlog import PredictionLog, arrow_table
from prodml.serve.predictor import Predictor
from prodml.serve.rejects import NOT_A_NUMBER, NOT_FINITE, UNKNOWN_CATEGORY, reason
from prodml.serve.schemas import strict_vocabularies
from prodml.train import conformal

Engine = Literal["local", "ray"]
PARQUET_SUFFIXES = (".parquet", ".pq")
SCORE_COLUMN = "score"
ROW_COLUMN, REASON_COLUMN = "_row", "_reject_reason"
KINDS_COLUMN = "_reject_kinds"  # the reasons as the log counts them, "<field>: <kind>; ..."


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
    engine: Engine = "local",
    ray_address: str | None = None,
) -> BatchResult:
    """Score every valid row of `source` into `destination`: the `keep` columns, the score,
    and the label and conformal set (classification) or interval (regression). Invalid
    rows go to `rejects` (default: beside the output, ``<name>.rejects.parquet``).

    With ``engine="ray"`` the chunks are read, checked and scored by Ray actors (on the
    cluster at `ray_address`, or a local one) and stream back here in file order; the
    outputs and the log are the same as the local engine's.

    Memory stays bounded by `chunk_rows`; `on_chunk` is told how many rows each chunk had.
    Both outputs appear under their final names only when the whole file is done.
    """
    plan = ChunkPlan.for_model(predictor, keep)
    columns = list(plan.columns)
    _require(source, columns, _header(source))
    if engine == "ray":
        from prodml.serve.batch_ray import scored_chunks

        results = scored_chunks(predictor, source, plan, chunk_rows, address=ray_address)
    elif engine == "local":
        results = (
            score_chunk(predictor, chunk, plan, num_threads=0)
            for chunk in _chunks(source, columns, plan.features, chunk_rows)
        )
    else:
        raise ValueError(f"engine must be 'local' or 'ray'. Got {engine!r} instead.")
    rejects = rejects or destination.with_name(destination.stem + ".rejects.parquet")
    destination.parent.mkdir(parents=True, exist_ok=True)
    sink = _Sink(predictor, plan, destination, rejects, log, now)
    try:
        for result in results:
            sink.add(result)
            if on_chunk:
                on_chunk(result.num_rows)
    except BaseException:
        sink.abort()
        raise
    return sink.finish()


@dataclass(frozen=True)
class ChunkPlan:
    """What a chunk is read as and checked against: the columns to read (kept ones first),
    the model's features, its numeric ones, and the categoricals with a closed vocabulary."""

    columns: tuple[str, ...]
    keep: tuple[str, ...]
    features: tuple[str, ...]
    numeric: tuple[str, ...]
    strict: dict[str, frozenset[str]]

    @classmethod
    def for_model(cls, predictor: Predictor, keep: Sequence[str]) -> ChunkPlan:
        spec = predictor.model.spec
        return cls(
            columns=tuple(dict.fromkeys([*keep, *spec.names])),
            keep=tuple(keep),
            features=tuple(spec.names),
            numeric=tuple(spec.numeric),
            strict={k: frozenset(v) for k, v in strict_vocabularies(predictor.model).items()},
        )


def score_chunk(
    predictor: Predictor, chunk: pa.Table, plan: ChunkPlan, *, num_threads: int = 1
) -> pa.Table:
    """One chunk checked and scored: its columns as the model reads them (numbers parsed),
    the answers (null on a rejected row), `_reject_reason` and `_reject_kinds` (null on a
    scored row)."""
    table = chunk.select(list(plan.columns))
    frame = table.to_pandas()
    reasons, kinds = _check(frame, plan.numeric, plan.strict)
    bad = reasons.notna().to_numpy()
    answers = _answers(predictor, frame[~bad], num_threads=num_threads)
    if bad.any():  # back in place: a null index takes a null, one per rejected row
        answers = answers.take(pa.array(np.cumsum(~bad) - 1, mask=bad))
    for name in plan.numeric:  # as parsed by the checks; NaN (missing) becomes null
        number = pa.array(frame[name].to_numpy(), pa.float64(), from_pandas=True)
        table = table.set_column(table.column_names.index(name), name, number)
    for name in answers.column_names:
        table = table.append_column(name, answers[name])
    table = table.append_column(REASON_COLUMN, pa.array(reasons, pa.string()))
    return table.append_column(KINDS_COLUMN, pa.array(kinds, pa.string()))


def _header(source: Path) -> list[str]:
    """The column names of a Parquet or CSV file, with a clear error for anything else."""
    if not source.exists():
        raise NotFoundError(f"Batch input {source} does not exist.")
    if source.suffix.lower() == ".csv":
        return pacsv.open_csv(source).schema.names
    if source.suffix.lower() not in PARQUET_SUFFIXES:
        raise DataValidationError(
            f"{source}: batch scoring reads .parquet or .csv files; convert this one first."
        )
    return pq.ParquetFile(source).schema_arrow.names


def csv_convert_options(columns: Sequence[str], features: Sequence[str]) -> pacsv.ConvertOptions:
    """A CSV's feature columns read as text, so the checks, not a guess from the first
    block, decide what is a number; an empty cell (or NA, null) is a missing value."""
    return pacsv.ConvertOptions(
        include_columns=list(columns),
        column_types=dict.fromkeys(features, pa.string()),
        strings_can_be_null=True,
    )


def _chunks(
    source: Path, columns: list[str], features: Sequence[str], chunk_rows: int
) -> Iterator[pa.Table]:
    """The file's `columns` in chunks of about `chunk_rows` rows."""
    if source.suffix.lower() in PARQUET_SUFFIXES:
        file = pq.ParquetFile(source)
        for batch in file.iter_batches(batch_size=chunk_rows, columns=columns):
            yield pa.Table.from_batches([batch])
        return
    reader = pacsv.open_csv(
        source,
        read_options=pacsv.ReadOptions(block_size=1 << 22),
        convert_options=csv_convert_options(columns, features),
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


def _require(source: Path, columns: list[str], found: list[str]) -> None:
    missing = [c for c in columns if c not in found]
    if missing:
        raise DataValidationError(
            f"{source}: missing column(s) {', '.join(missing)} that the model or --keep needs; "
            f"the file has {', '.join(found)}."
        )


def _check(
    frame: pd.DataFrame, numeric: Sequence[str], strict: Mapping[str, frozenset[str]]
) -> tuple[pd.Series, pd.Series]:
    """Per row, every reason it cannot be scored joined by '; ', or null; and the same
    reasons as kinds (`rejects.reason`), which is how the prediction log counts them."""
    reasons = pd.Series(pd.NA, index=frame.index, dtype="string")
    kinds = pd.Series(pd.NA, index=frame.index, dtype="string")

    def add(mask: np.ndarray, text: pd.Series, field: str, kind: str) -> None:
        joined = reasons.where(reasons.isna(), reasons + "; ") + text
        reasons[mask] = joined.fillna(text)[mask]
        key = reason(field, kind)
        kinds[mask] = kinds.where(kinds.isna(), kinds + "; ").fillna("")[mask] + key

    for name in numeric:
        raw = frame[name]
        values = pd.to_numeric(raw, errors="coerce")
        frame[name] = values.astype(float)
        not_number = (raw.notna() & values.isna()).to_numpy()
        if not_number.any():
            text = name + ": " + raw.astype("string").str.slice(0, 40) + " is not a number"
            add(not_number, text, name, NOT_A_NUMBER)
        infinite = np.isinf(frame[name].to_numpy())
        if infinite.any():
            text = pd.Series(f"{name}: not a finite number", index=frame.index)
            add(infinite, text, name, NOT_FINITE)
    for name, allowed in strict.items():
        text = frame[name].astype("string")
        unknown = (text.notna() & ~text.isin(allowed)).to_numpy()
        if unknown.any():
            message = name + ": " + text + f" is not one of the {len(allowed)} known values"
            add(unknown, message, name, UNKNOWN_CATEGORY)
    return reasons, kinds


def _answers(predictor: Predictor, frame: pd.DataFrame, *, num_threads: int) -> pa.Table:
    """The score and its uncertainty for every row of `frame`, vectorised."""
    model = predictor.model
    score = model.predict_frame(frame, num_threads=num_threads) if len(frame) else np.empty(0)
    out = pa.table({SCORE_COLUMN: pa.array(score, pa.float64())})
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


class _Sink:
    """Where scored chunks go, in file order: the scored rows to the output, the rejected
    ones with their file row numbers to the rejects file, and the scored ones to the log."""

    def __init__(
        self,
        predictor: Predictor,
        plan: ChunkPlan,
        destination: Path,
        rejects: Path,
        log: PredictionLog | None,
        now: datetime | None,
    ) -> None:
        self.predictor, self.plan, self.log, self.now = predictor, plan, log, now
        self.output, self.rejects = _Output(destination), _Output(rejects)
        self.batch_id = f"batch-{uuid.uuid4().hex[:12]}"
        self.scored = self.rejected = self.first_row = 0
        self.writer = ThreadPoolExecutor(1, thread_name_prefix="prodml-batch-writer")
        self.pending: Future[None] | None = None

    def add(self, result: pa.Table) -> None:
        n = result.num_rows
        rows = pa.array(np.arange(self.first_row, self.first_row + n))
        bad = result[REASON_COLUMN].is_valid()
        n_bad = pc.sum(bad).as_py() or 0
        refused = None
        if n_bad:
            rejected = result.filter(bad)
            frame = rejected.select(list(self.plan.columns)).to_pandas().astype("string")
            frame[ROW_COLUMN] = rows.filter(bad).to_numpy()
            frame[REASON_COLUMN] = rejected[REASON_COLUMN].to_pandas()
            self.rejects.write(pa.Table.from_pandas(frame, preserve_index=False))
            refused = self._reject_table(rejected, frame, rows.filter(bad))
            result, rows = result.filter(pc.invert(bad)), rows.filter(pc.invert(bad))
        if self.pending is not None:
            self.pending.result()  # at most one chunk waits to be written; errors surface here
        self.pending = self.writer.submit(self._write, result, rows, refused)
        self.scored += n - n_bad
        self.rejected += n_bad
        self.first_row += n

    def abort(self) -> None:
        """Stop after a failure: no partial output is left behind (the log keeps the chunks
        already scored, as it keeps every answer given)."""
        self.writer.shutdown(wait=True, cancel_futures=True)
        self.output.discard()
        self.rejects.discard()

    def _write(self, scored: pa.Table, rows: pa.Array, refused: pa.Table | None) -> None:
        """On the writer thread: compressing and writing Parquet releases the GIL, so the
        next chunk is read and scored meanwhile."""
        internal = (REASON_COLUMN, KINDS_COLUMN)
        answers = [c for c in scored.column_names[len(self.plan.columns) :] if c not in internal]
        self.output.write(scored.select([*self.plan.keep, *answers]))
        if self.log is not None and scored.num_rows:
            self.log.append_table(self._log_table(scored, rows))
        if self.log is not None and refused is not None:
            self.log.append_table(refused)

    def finish(self) -> BatchResult:
        with self.writer:
            if self.pending is not None:
                self.pending.result()
        empty = _answers(
            self.predictor, pd.DataFrame(columns=list(self.plan.features)), num_threads=1
        )
        self.output.finish(empty.schema)
        self.rejects.finish(pa.schema([(ROW_COLUMN, pa.int64()), (REASON_COLUMN, pa.string())]))
        return BatchResult(self.scored, self.rejected, self.batch_id, self.rejects.path)

    def _head(self, rows: pa.Array) -> dict[str, pa.Array]:
        """The fields every record of a chunk starts with (see `predlog.schema`)."""
        n, info = len(rows), self.predictor.info
        return {
            "request_id": pa.repeat(self.batch_id, n),
            "row": rows.cast(pa.int64()),
            "timestamp": pa.repeat((self.now or datetime.now().astimezone()).isoformat(), n),
            "channel": pa.repeat("batch", n),
            "model": pa.repeat(info.name, n),
            "version": pa.repeat(info.version, n),
        }

    def _reject_table(self, rejected: pa.Table, sent: pd.DataFrame, rows: pa.Array) -> pa.Table:
        """The chunk's rejected rows as reject records: their features as text, their
        reasons by kind (monitoring counts them)."""
        text = self._private(
            pa.Table.from_pandas(sent[list(self.plan.features)], preserve_index=False)
        )
        kinds = pc.split_pattern(rejected[KINDS_COLUMN].combine_chunks(), "; ")
        return arrow_table(
            {**self._head(rows), "sent": text.to_struct_array().combine_chunks(), "rejected": kinds}
        )

    def _private(self, features: pa.Table) -> pa.Table:
        """`features` with the columns the model's contracts tag `pii` as keyed hashes
        (see `govern.privacy`): the log never holds them in clear."""
        hashed = self.predictor.redactor.hash
        for name in sorted(self.predictor.pii_columns & set(features.column_names)):
            values = [None if v is None else hashed(v) for v in features[name].to_pylist()]
            index = features.column_names.index(name)
            features = features.set_column(index, name, pa.array(values, pa.string()))
        return features

    def _log_table(self, scored: pa.Table, rows: pa.Array) -> pa.Table:
        """The chunk's records in the prediction log's shape (one struct of inputs per row)."""
        n = scored.num_rows
        predictor = self.predictor
        fields = {
            **self._head(rows),
            "inputs": self._private(scored.select(list(self.plan.features)))
            .to_struct_array()
            .combine_chunks(),
            ("probability" if predictor.classifier else "value"): scored[SCORE_COLUMN],
        }
        if predictor.classifier:
            fields["label"] = scored["label"].cast(pa.int64())
            if "set_has_0" in scored.column_names:
                fields["prediction_set"] = _sets(scored)
        elif "lower" in scored.column_names:
            fields["interval"] = pa.FixedSizeListArray.from_arrays(
                pa.array(np.column_stack([scored["lower"], scored["upper"]]).ravel()), 2
            )
        fields["coverage"] = pa.array([predictor.coverage] * n, pa.float64())  # may be null
        return arrow_table(fields)


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

    def discard(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.partial.unlink(missing_ok=True)
