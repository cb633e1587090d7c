"""Data pipelines: read sources, check them against contracts, keep snapshots.

The flow: `open_source` → `infer_contract` (once, then edited by a person) → `ingest`,
which validates every row, quarantines failures with reasons and records the accepted
rows as a content-addressed snapshot.
"""

from prodml.data.contract import ColumnContract, Contract
from prodml.data.infer import infer_contract
from prodml.data.ingest import IngestResult, ingest, validate_source
from prodml.data.profile import profile_frame
from prodml.data.snapshots import read_snapshot
from prodml.data.sources import Source, open_source
from prodml.data.validate import ValidationReport, Validator

__all__ = [
    "ColumnContract",
    "Contract",
    "IngestResult",
    "Source",
    "ValidationReport",
    "Validator",
    "infer_contract",
    "ingest",
    "open_source",
    "profile_frame",
    "read_snapshot",
    "validate_source",
]
