"""Where state lives: the metadata database and the artifact store."""

from prodml.store.artifacts import ArtifactStore
from prodml.store.metadata import MetadataStore, this_process
from prodml.store.records import (
    Alert,
    AuditEvent,
    Decision,
    Finding,
    IngestionRecord,
    Label,
    Override,
    PolicyChange,
    SnapshotRecord,
    TokenRecord,
)

__all__ = [
    "Alert",
    "ArtifactStore",
    "AuditEvent",
    "Decision",
    "Finding",
    "IngestionRecord",
    "Label",
    "MetadataStore",
    "Override",
    "PolicyChange",
    "SnapshotRecord",
    "TokenRecord",
    "this_process",
]
