"""Data pipelines: validate a batch, quarantine bad rows, keep good ones as snapshots."""

from prodml.data.profile import profile_frame
from prodml.data.snapshots import SnapshotWriter
from prodml.data.validation import Check, ValidationResult, validate

__all__ = ["Check", "SnapshotWriter", "ValidationResult", "profile_frame", "validate"]
