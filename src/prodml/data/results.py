"""What an ingest returns, and the quick answer for input already ingested.

Kept apart from `ingest.py` (and its pandas) so "this input is unchanged" costs only
a fingerprint and one metadata query.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

from prodml.data.sources import Fingerprinted, Source

if TYPE_CHECKING:
    from prodml.data.contract import Contract
    from prodml.data.validate import ValidationReport
    from prodml.store import MetadataStore, SnapshotRecord


@dataclass(frozen=True)
class IngestResult:
    snapshot: SnapshotRecord
    created: bool  # False: these exact rows (or this exact input) were already a snapshot
    report: ValidationReport | None  # None when unchanged input was recognised unread
    quarantine_uri: str | None = None


def fingerprint(source: Source, contract: Contract) -> str | None:
    """What was read and the rules it was read under; None if the source cannot tell."""
    if not isinstance(source, Fingerprinted):
        return None  # e.g. a SQL query: only reading it tells whether it changed
    return hashlib.sha256(f"{source.fingerprint()}|{contract.version}".encode()).hexdigest()


def unchanged(source: Source, contract: Contract, metadata: MetadataStore) -> IngestResult | None:
    """The earlier result if exactly this input was ingested under this contract."""
    made = fingerprint(source, contract)
    known = None if made is None else metadata.find_by_fingerprint(made, contract.version)
    return None if known is None else IngestResult(known, created=False, report=None)
