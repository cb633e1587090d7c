"""Accepted batches kept as immutable Parquet snapshots named by the hash of their content.

The id hashes every row in a canonical order, so the same rows give the same id however
they were read; ingesting unchanged data again creates nothing.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from prodml.clock import Clock
from prodml.data.profile import profile_frame
from prodml.data.validation import ValidationResult
from prodml.store import ArtifactStore, MetadataStore, SnapshotRecord


@dataclass(frozen=True)
class SnapshotResult:
    record: SnapshotRecord
    created: bool  # False when identical content was already stored


class SnapshotWriter:
    """Writes validated batches to the artifact store and records them in metadata."""

    def __init__(self, metadata: MetadataStore, artifacts: ArtifactStore, clock: Clock) -> None:
        self.metadata = metadata
        self.artifacts = artifacts
        self.clock = clock

    def write(self, result: ValidationResult, *, source: str) -> SnapshotResult:
        table = pa.Table.from_pandas(result.accepted, preserve_index=False)
        snapshot_id = content_hash(table)
        known = {s.id: s for s in self.metadata.list_snapshots()}
        if snapshot_id in known:
            return SnapshotResult(known[snapshot_id], created=False)

        ref = self.artifacts.put_bytes(f"snapshots/{snapshot_id}.parquet", _parquet(table))
        quarantine_uri = None
        if len(result.rejected):
            rejected = pa.Table.from_pandas(result.rejected, preserve_index=False)
            key = f"quarantine/{snapshot_id}.parquet"
            quarantine_uri = self.artifacts.put_bytes(key, _parquet(rejected)).uri
        record = SnapshotRecord(
            id=snapshot_id,
            source=source,
            created_at=self.clock.now(),
            num_rows=table.num_rows,
            num_columns=table.num_columns,
            uri=ref.uri,
            quarantined_rows=len(result.rejected),
            quarantine_uri=quarantine_uri,
            profile=profile_frame(result.accepted),
        )
        created = self.metadata.add_snapshot(record)
        return SnapshotResult(record, created=created)

    def read(self, record: SnapshotRecord) -> pd.DataFrame:
        """The snapshot's rows, after checking its bytes against the recorded hash."""
        key = f"snapshots/{record.id}.parquet"
        return pq.read_table(io.BytesIO(self.artifacts.get_bytes(key))).to_pandas()


def content_hash(table: pa.Table) -> str:
    """SHA-256 of the schema and every row, independent of row order."""
    canonical = table.sort_by([(name, "ascending") for name in table.column_names])
    sink = io.BytesIO()
    with pa.ipc.new_stream(sink, canonical.schema) as writer:
        writer.write_table(canonical.combine_chunks())
    return hashlib.sha256(sink.getvalue()).hexdigest()


def _parquet(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    pq.write_table(table, sink, compression="zstd")
    return sink.getvalue()
