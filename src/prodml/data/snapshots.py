"""Accepted batches kept as immutable Parquet snapshots named by the hash of their content.

The id hashes every row in a canonical order, so the same rows give the same id however
they were read; ingesting unchanged data again creates nothing.
"""

from __future__ import annotations

import hashlib
import io
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from prodml.clock import Clock
from prodml.data.profile import profile_frame
from prodml.data.validation import ValidationResult
from prodml.store import ArtifactStore, MetadataStore, SnapshotRecord
from prodml.store.artifacts import ArtifactRef


@dataclass(frozen=True)
class SnapshotResult:
    record: SnapshotRecord
    created: bool  # False when identical content was already stored
    quarantine_uri: str | None = None  # this batch's rejected rows, even when not created


class SnapshotWriter:
    """Writes validated batches to the artifact store and records them in metadata."""

    def __init__(self, metadata: MetadataStore, artifacts: ArtifactStore, clock: Clock) -> None:
        self.metadata = metadata
        self.artifacts = artifacts
        self.clock = clock

    def write(self, result: ValidationResult, *, source: str) -> SnapshotResult:
        table = pa.Table.from_pandas(result.accepted, preserve_index=False)
        snapshot_id = content_hash(table)
        # Rejected rows are kept whatever happens to the accepted ones: nothing is lost.
        quarantine_uri = self._quarantine(result) if len(result.rejected) else None
        known = self.metadata.find_snapshot(snapshot_id)
        if known is not None:
            return SnapshotResult(known, created=False, quarantine_uri=quarantine_uri)

        ref = self._put_parquet(f"snapshots/{snapshot_id}.parquet", table)
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
        return SnapshotResult(record, created=created, quarantine_uri=quarantine_uri)

    def read(self, record: SnapshotRecord) -> pd.DataFrame:
        """The snapshot's rows, after checking its bytes against the recorded hash."""
        key = f"snapshots/{record.id}.parquet"
        return pq.read_table(io.BytesIO(self.artifacts.get_bytes(key))).to_pandas()

    def _quarantine(self, result: ValidationResult) -> str:
        rejected = pa.Table.from_pandas(result.rejected, preserve_index=False)
        return self._put_parquet(f"quarantine/{content_hash(rejected)}.parquet", rejected).uri

    def _put_parquet(self, key: str, table: pa.Table) -> ArtifactRef:
        # Through a local temporary file, so the bytes are never held twice in memory.
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "data.parquet"
            pq.write_table(table, path, compression="zstd")
            return self.artifacts.put_file(key, path)


def content_hash(table: pa.Table) -> str:
    """SHA-256 of the column names, logical types and every row, independent of row order.

    Library metadata and physical encodings (large vs normal strings, dictionaries) are
    left out: the same rows read by another pandas or pyarrow give the same id.
    """
    canonical = _canonical(table)
    canonical = canonical.sort_by([(name, "ascending") for name in canonical.column_names])
    sink = io.BytesIO()
    with pa.ipc.new_stream(sink, canonical.schema) as writer:
        writer.write_table(canonical.combine_chunks())
    return hashlib.sha256(sink.getvalue()).hexdigest()


def _canonical(table: pa.Table) -> pa.Table:
    fields = []
    for field in table.schema:
        kind = field.type
        if pa.types.is_dictionary(kind):
            kind = kind.value_type
        if pa.types.is_large_string(kind) or pa.types.is_string_view(kind):
            kind = pa.string()
        elif pa.types.is_large_binary(kind):
            kind = pa.binary()
        fields.append(pa.field(field.name, kind))
    return table.cast(pa.schema(fields))
