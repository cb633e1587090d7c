"""Ingest: read a source, validate it against its contract, keep the good rows as a
snapshot and the bad ones in quarantine — all or nothing.

Rows stream through in chunks: accepted rows go to a temporary Parquet file, rejected
ones to another. Only when the whole source has passed are both published to the artifact
store and recorded, in one transaction; if anything fails on the way, what was published
is removed again. A rejected batch leaves nothing behind.
"""

from __future__ import annotations

import tempfile
import uuid
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from prodml.clock import Clock
from prodml.data import steps
from prodml.data._arrow import to_arrow
from prodml.data.contract import Contract
from prodml.data.profile import ProfileBuilder, column_psi
from prodml.data.results import IngestResult, fingerprint, unchanged
from prodml.data.snapshots import RowHasher, arrow_schema
from prodml.data.sources import DEFAULT_CHUNK_ROWS, Source
from prodml.data.validate import ROW, ValidationReport, Validator
from prodml.store import ArtifactStore, IngestionRecord, MetadataStore, SnapshotRecord

OnRows = Callable[[int], None] | None


def ingest(
    source: Source,
    contract: Contract,
    *,
    metadata: MetadataStore,
    artifacts: ArtifactStore,
    clock: Clock,
    parents: Sequence[str] = (),
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    on_rows: OnRows = None,
) -> IngestResult:
    """Validate every row of `source` against `contract` and publish the result.

    Raises `BatchRejected` (with the report) when the batch fails as a whole.
    """
    parent_ids = [metadata.get_snapshot(p).id for p in parents]  # unknown parents fail early
    if (earlier := unchanged(source, contract, metadata)) is not None:
        return earlier

    batch_id = f"{clock.now():%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}"
    validator = Validator(contract, source=source.name, batch_id=batch_id)
    schema = arrow_schema(contract)
    hasher = RowHasher(schema)
    with tempfile.TemporaryDirectory(prefix="prodml-ingest-") as tmp:
        accepted_path, rejected_path = Path(tmp, "accepted.parquet"), Path(tmp, "rejected.parquet")
        quarantine = _QuarantineFile(rejected_path)
        try:
            with _accepted_writer(accepted_path, schema) as write:

                def keep(rows: pd.DataFrame) -> None:
                    write(rows)
                    hasher.update(rows)

                report, profile = _check_all(
                    source,
                    contract,
                    validator,
                    clock,
                    chunk_rows,
                    on_rows,
                    accepted=keep,
                    rejected=quarantine.write,
                )
        finally:
            quarantine.close()
        snapshot_id = hasher.hexdigest()
        known = metadata.find_snapshot(snapshot_id)
        lineage = {
            "source": source.name,
            "contract": contract.name,
            # What training from this snapshot alone needs to know of its columns.
            "columns": {
                name: {"type": c.type, **({"pii": c.pii} if c.pii else {})}
                for name, c in contract.columns.items()
            },
            "keys": contract.keys,
            "event_timestamp": contract.event_timestamp,
            "batch_id": batch_id,
            "rows_read": report.rows,
            "steps": steps.lineage(contract.steps),
            "warnings": [v.message for v in report.violations if v.severity == "warning"],
        }
        with _published(artifacts) as publish:
            quarantine_uri = (
                publish(f"quarantine/{batch_id}.parquet", rejected_path)
                if report.rejected
                else None
            )
            record = known or SnapshotRecord(
                id=snapshot_id,
                source=source.name,
                created_at=clock.now(),
                num_rows=report.accepted,
                num_columns=len(schema),
                uri=publish(f"snapshots/{snapshot_id}.parquet", accepted_path),
                quarantined_rows=report.rejected,
                quarantine_uri=quarantine_uri,
                profile=profile,
                contract_version=contract.version,
                parents=parent_ids,
                lineage=lineage,
            )
            ingestion = IngestionRecord(
                batch_id=batch_id,
                snapshot_id=snapshot_id,
                source=source.name,
                contract_version=contract.version,
                created_at=clock.now(),
                rows=report.rows,
                rejected=report.rejected,
                fingerprint=fingerprint(source, contract),
                quarantine_uri=quarantine_uri,
                report=report.to_dict(),
            )
            created = metadata.record_ingestion(ingestion, None if known else record)
    return IngestResult(record, created=created, report=report, quarantine_uri=quarantine_uri)


def validate_source(
    source: Source,
    contract: Contract,
    *,
    clock: Clock,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    on_rows: OnRows = None,
) -> ValidationReport:
    """A dry run: the full report of `source` (dataset checks included), writing nothing.

    A batch that would be rejected as a whole is reported (`batch_rejected`), not raised.
    """
    validator = Validator(contract, source=source.name, batch_id="dry-run")
    report, _ = _check_all(
        source, contract, validator, clock, chunk_rows, on_rows, raise_on_reject=False
    )
    return report


def _check_all(
    source: Source,
    contract: Contract,
    validator: Validator,
    clock: Clock,
    chunk_rows: int,
    on_rows: OnRows,
    *,
    accepted: Callable[[pd.DataFrame], Any] | None = None,
    rejected: Callable[[pd.DataFrame], Any] | None = None,
    raise_on_reject: bool = True,
) -> tuple[ValidationReport, dict[str, Any]]:
    """One pass over the source: row checks per chunk, then the dataset checks."""
    profiler = ProfileBuilder()
    for batch in source.batches(chunk_rows):
        good, bad = validator.check(batch)
        profiler.update(good)
        if accepted:
            accepted(good)
        if rejected and len(bad):
            rejected(bad)
        if on_rows:
            on_rows(batch.num_rows)
    profile = profiler.result()
    reference = (contract.reference or {}).get("columns", {})
    drift = {
        name: column_psi(ref, profiler.sample(name))
        for name, ref in reference.items()
        if name in profile["columns"] and len(profiler.sample(name))
    }
    report = validator.finish(
        now=clock.now(), profile=profile, drift=drift, raise_on_reject=raise_on_reject
    )
    return report, profile


@contextmanager
def _accepted_writer(path: Path, schema: Any) -> Iterator[Callable[[pd.DataFrame], None]]:
    """Append accepted chunks to Parquet; encoding runs on the second core while the next
    chunk is checked, and at most one chunk waits for it, so memory stays bounded."""
    pending: list[Future[None]] = []
    with (
        pq.ParquetWriter(path, schema, compression="zstd") as writer,
        ThreadPoolExecutor(max_workers=1, thread_name_prefix="prodml-write") as pool,
    ):

        def write(rows: pd.DataFrame) -> None:
            table = to_arrow(rows, schema)
            if pending:
                pending.pop().result()
            pending.append(pool.submit(writer.write_table, table))

        yield write
        if pending:
            pending.pop().result()


@contextmanager
def _published(artifacts: ArtifactStore) -> Iterator[Callable[[str, Path], str]]:
    """Publish files; if the block fails, remove what it published (nothing half-written)."""
    keys: list[str] = []

    def publish(key: str, path: Path) -> str:
        uri = artifacts.put_file(key, path).uri
        keys.append(key)
        return uri

    try:
        yield publish
    except BaseException:
        for key in keys:
            artifacts.delete(key)
        raise


class _QuarantineFile:
    """Rejected rows, appended chunk by chunk to one Parquet file (opened on first use)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._writer: pq.ParquetWriter | None = None

    def write(self, rejected: pd.DataFrame) -> None:
        table = to_arrow(rejected)
        # Cells as text, so chunks that typed a column differently share one file schema.
        text = pa.schema(
            [pa.field(f.name, f.type if f.name == ROW else pa.string()) for f in table.schema]
        )
        table = table.cast(text)
        self._writer = self._writer or pq.ParquetWriter(self.path, table.schema)
        self._writer.write_table(table)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
