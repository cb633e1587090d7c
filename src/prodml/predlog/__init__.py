"""The prediction log: every answered prediction, durable before its answer leaves, and
every row refused, in the record shapes (`schema`) that serving writes and monitoring,
rollouts and continuous training read. It imports nothing of serving (no FastAPI), so
readers stay light."""

from prodml.predlog.log import PARQUET, PredictionLog, readable_segments, segment_number
from prodml.predlog.schema import (
    ARROW_TYPES,
    CHANNELS,
    PredictionRecord,
    RejectRecord,
    arrow_table,
)

__all__ = [
    "ARROW_TYPES",
    "CHANNELS",
    "PARQUET",
    "PredictionLog",
    "PredictionRecord",
    "RejectRecord",
    "arrow_table",
    "readable_segments",
    "segment_number",
]
