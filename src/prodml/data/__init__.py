"""Data pipelines: read sources, check them against contracts, keep snapshots.

The flow: `open_source` → `infer_contract` (once, then edited by a person) → `ingest`,
which validates every row, quarantines failures with reasons and records the accepted
rows as a content-addressed snapshot.

Names are imported on first use, so a command that only reads a contract does not pay
for pandas.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "ColumnContract": "prodml.data.contract",
    "Contract": "prodml.data.contract",
    "IngestResult": "prodml.data.results",
    "Source": "prodml.data.sources",
    "ValidationReport": "prodml.data.validate",
    "Validator": "prodml.data.validate",
    "infer_contract": "prodml.data.infer",
    "ingest": "prodml.data.ingest",
    "open_source": "prodml.data.sources",
    "profile_frame": "prodml.data.profile",
    "read_snapshot": "prodml.data.snapshots",
    "validate_source": "prodml.data.ingest",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'prodml.data' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
