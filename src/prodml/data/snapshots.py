"""Snapshots: immutable Parquet files named by a hash of their full content.

The id is a SHA-256 over the schema and the sorted 64-bit hashes of every row, so the same
rows give the same id in any order, from any file format (cells are typed by the contract
first), and any changed cell changes it. It is computed while the rows stream past.
"""

from __future__ import annotations

import hashlib
import io

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from prodml.data.contract import Contract
from prodml.data.steps import Derive
from prodml.store import ArtifactStore, SnapshotRecord

HASH_VERSION = b"prodml-snapshot-v1"
_ROW_HASH_KEY = "prodml-rows-v1.."  # 16 bytes: pandas' SipHash key; changing it changes ids
_ARROW_TYPES = {
    "string": pa.string(),
    "integer": pa.int64(),
    "float": pa.float64(),
    "boolean": pa.bool_(),
    "timestamp": pa.timestamp("us", tz="UTC"),
}


def arrow_schema(contract: Contract) -> pa.Schema:
    """How a contract's columns (and derived columns, last) are stored."""
    fields = [pa.field(name, _ARROW_TYPES[c.type]) for name, c in contract.columns.items()]
    fields += [
        pa.field(s.derive, _ARROW_TYPES[s.type]) for s in contract.steps if isinstance(s, Derive)
    ]
    return pa.schema(fields)


class RowHasher:
    """Accumulates row hashes batch by batch; `hexdigest` gives the order-free content id."""

    def __init__(self, schema: pa.Schema) -> None:
        self.schema = schema
        self._parts: list[np.ndarray] = []

    def update(self, frame: pd.DataFrame) -> None:
        if len(frame):
            hashes = pd.util.hash_pandas_object(frame, index=False, hash_key=_ROW_HASH_KEY)
            self._parts.append(hashes.to_numpy(dtype=np.uint64))

    def hexdigest(self) -> str:
        rows = np.sort(np.concatenate(self._parts)) if self._parts else np.empty(0, np.uint64)
        digest = hashlib.sha256(HASH_VERSION)
        digest.update(str([(f.name, str(f.type)) for f in self.schema]).encode())
        digest.update(rows.astype("<u8").tobytes())
        return digest.hexdigest()


def content_hash(frame: pd.DataFrame, schema: pa.Schema) -> str:
    """The snapshot id `frame` would get (its columns already typed by the contract)."""
    hasher = RowHasher(schema)
    hasher.update(frame)
    return hasher.hexdigest()


def read_snapshot(record: SnapshotRecord, artifacts: ArtifactStore) -> pd.DataFrame:
    """The snapshot's rows, after checking its bytes against the recorded SHA-256."""
    data = artifacts.get_bytes(f"snapshots/{record.id}.parquet")
    return pq.read_table(io.BytesIO(data)).to_pandas()
