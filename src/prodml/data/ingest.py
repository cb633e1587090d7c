"""Ingest: read a source, validate it against its contract, keep the good rows as a
snapshot and the bad ones in quarantine — all or nothing.

Rows stream through in chunks: accepted rows go to a temporary Parquet file, rejected
ones to another, and only when the whole source has passed are both published to the
artifact store and the snapshot recorded. A rejected batch leaves nothing behind.
"""

from __future__ import annotations

import hashlib
import tempfile
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq

from prodml.clock import Clock
from prodml.data import steps
from prodml.data._arrow import to_arrow
from prodml.data.contract import Contract
from prodml.data.profile import ProfileBuilder, column_psi
from prodml.data.snapshots import RowHasher, arrow_schema
from prodml.data.sources import DEFAULT_CHUNK_ROWS, Fingerprinted, Source
from prodml.data.validate import ValidationReport, Validator
from prodml.store import ArtifactStore, IngestionRecord, MetadataStore, SnapshotRecord


@dataclass(frozen=True)
class IngestResult:
    snapshot: SnapshotRecord
    created: bool  # False: these exact rows (or this exact input) were already a snapshot
    report: ValidationReport | None  # None when unchanged input was recognised unread
    quarantine_uri: str | None = None


def ingest(
    source: Source,
    contract: Contract,
    *,
    metadata: MetadataStore,
    artifacts: ArtifactStore,
    clock: Clock,
    parents: Sequence[str] = (),
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    on_rows: Callable[[int], None] | None = None,
) -> IngestResult:
    """Validate every row of `source` against `contract` and publish the result."""
    fingerprint = _fingerprint(source, contract)
    if fingerprint is not None:
        known = metadata.find_by_fingerprint(fingerprint, contract.version)
        if known is not None:
            return IngestResult(known, created=False, report=None)

    batch_id = f"{clock.now():%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}"
    validator = Validator(contract, source=source.name, batch_id=batch_id)
    schema = arrow_schema(contract)
    hasher = RowHasher(schema)
    profiler = ProfileBuilder()
    with tempfile.TemporaryDirectory(prefix="prodml-ingest-") as tmp:
        accepted_path = Path(tmp, "accepted.parquet")
        quarantine = _QuarantineFile(Path(tmp, "rejected.parquet"))
        # Parquet encoding runs on the second core while the next chunk is validated; at
        # most one chunk waits for it, so memory stays bounded.
        with (
            pq.ParquetWriter(accepted_path, schema, compression="zstd") as writer,
            ThreadPoolExecutor(max_workers=1, thread_name_prefix="prodml-write") as pool,
        ):
            pending: Future[None] | None = None
            for batch in source.batches(chunk_rows):
                accepted, rejected = validator.check(batch)
                table = to_arrow(accepted, schema)
                if pending is not None:
                    pending.result()
                pending = pool.submit(writer.write_table, table)
                hasher.update(accepted)
                profiler.update(accepted)
                quarantine.write(rejected)
                if on_rows:
                    on_rows(batch.num_rows)
            if pending is not None:
                pending.result()
        quarantine.close()
        profile = profiler.result()
        reference = (contract.reference or {}).get("columns", {})
        drift = {
            name: column_psi(ref, profiler.sample(name))
            for name, ref in reference.items()
            if name in profile["columns"] and len(profiler.sample(name))
        }
        report = validator.finish(now=clock.now(), profile=profile, drift=drift)  # may raise

        snapshot_id = hasher.hexdigest()
        quarantine_uri = None
        if report.rejected:
            key = f"quarantine/{batch_id}.parquet"
            quarantine_uri = artifacts.put_file(key, quarantine.path).uri
        lineage = {
            "source": source.name,
            "contract": contract.name,
            "batch_id": batch_id,
            "rows_read": report.rows,
            "steps": steps.lineage(contract.steps),
            "warnings": [v.message for v in report.violations if v.severity == "warning"],
        }
        known = metadata.find_snapshot(snapshot_id)
        if known is None:
            ref = artifacts.put_file(f"snapshots/{snapshot_id}.parquet", accepted_path)
    ingestion = IngestionRecord(
        batch_id=batch_id,
        snapshot_id=snapshot_id,
        source=source.name,
        contract_version=contract.version,
        created_at=clock.now(),
        rows=report.rows,
        rejected=report.rejected,
        fingerprint=fingerprint,
        quarantine_uri=quarantine_uri,
        report=report.to_dict(),
    )
    if known is not None:
        metadata.add_ingestion(ingestion)
        return IngestResult(known, created=False, report=report, quarantine_uri=quarantine_uri)
    record = SnapshotRecord(
        id=snapshot_id,
        source=source.name,
        created_at=clock.now(),
        num_rows=report.accepted,
        num_columns=len(schema),
        uri=ref.uri,
        quarantined_rows=report.rejected,
        quarantine_uri=quarantine_uri,
        profile=profile,
        contract_version=contract.version,
        parents=list(parents),
        lineage=lineage,
    )
    created = metadata.add_snapshot(record)
    metadata.add_ingestion(ingestion)  # after the snapshot: an ingestion always has one
    return IngestResult(record, created=created, report=report, quarantine_uri=quarantine_uri)


def validate_source(
    source: Source,
    contract: Contract,
    *,
    clock: Clock,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    on_rows: Callable[[int], None] | None = None,
) -> ValidationReport:
    """A dry run: the validation report of `source`, writing nothing anywhere.

    Raises `DataValidationError` (with the report's problems) when the batch would be
    rejected as a whole.
    """
    validator = Validator(contract, source=source.name, batch_id="dry-run")
    for batch in source.batches(chunk_rows):
        validator.check(batch)
        if on_rows:
            on_rows(batch.num_rows)
    return validator.finish(now=clock.now())


class _QuarantineFile:
    """Rejected rows, appended chunk by chunk to one Parquet file (opened on first use)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._writer: pq.ParquetWriter | None = None

    def write(self, rejected: pd.DataFrame) -> None:
        if not len(rejected):
            return
        table = to_arrow(rejected)
        self._writer = self._writer or pq.ParquetWriter(self.path, table.schema)
        self._writer.write_table(table.cast(self._writer.schema))

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()


def _fingerprint(source: Source, contract: Contract) -> str | None:
    if not isinstance(source, Fingerprinted):
        return None  # e.g. a SQL query: only reading it tells whether it changed
    return hashlib.sha256(f"{source.fingerprint()}|{contract.version}".encode()).hexdigest()
