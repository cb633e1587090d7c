"""Where state lives: the metadata database and the artifact store."""

from prodml.store.artifacts import ArtifactStore
from prodml.store.metadata import MetadataStore
from prodml.store.records import (
    Alert,
    Finding,
    IngestionRecord,
    Label,
    PolicyChange,
    SnapshotRecord,
)

__all__ = [
    "Alert",
    "ArtifactStore",
    "Finding",
    "IngestionRecord",
    "Label",
    "MetadataStore",
    "PolicyChange",
    "SnapshotRecord",
]
