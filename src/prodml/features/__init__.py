"""Feature store: definitions, point-in-time training sets (offline, DuckDB)."""

from prodml.features.definitions import Entity, FeatureService, FeatureView
from prodml.features.offline import get_training_set, point_in_time_join

__all__ = ["Entity", "FeatureService", "FeatureView", "get_training_set", "point_in_time_join"]
