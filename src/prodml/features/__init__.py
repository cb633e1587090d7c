"""Feature store: definitions, point-in-time training sets (offline, DuckDB), online serving."""

from prodml.features.definitions import Entity, FeatureService, FeatureView, OnDemandFeatureView
from prodml.features.offline import get_training_set

__all__ = ["Entity", "FeatureService", "FeatureView", "OnDemandFeatureView", "get_training_set"]
