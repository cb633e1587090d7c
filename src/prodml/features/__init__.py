"""Feature store: point-in-time joins of events with timestamped feature tables."""

from prodml.features.offline import point_in_time_join

__all__ = ["point_in_time_join"]
