"""Where state lives: the metadata database and the artifact store."""

from prodml.store.artifacts import ArtifactStore
from prodml.store.metadata import MetadataStore
from prodml.store.records import Finding, IngestionRecord, SnapshotRecord

__all__ = ["ArtifactStore", "Finding", "IngestionRecord", "MetadataStore", "SnapshotRecord"]
