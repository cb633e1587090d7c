"""Feature definitions in Python: entities, feature views and the services models use.

A definition is plain data; its `version` is a hash of its content, so a registered model
can name exactly the definitions it was trained with.

>>> origin = Entity("origin", join_keys=("origin",))
>>> weather = FeatureView(
...     "weather",
...     entity=origin,
...     source="exports/weather.parquet",
...     timestamp="observed_at",
...     features=("temp", "wind_speed"),
...     ttl=timedelta(hours=3),
... )
>>> FeatureService("delay", views=(weather,)).features
('temp', 'wind_speed')
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any


@dataclass(frozen=True)
class Entity:
    """What features describe, and the columns that identify it (its join keys)."""

    name: str
    join_keys: tuple[str, ...]

    def __post_init__(self) -> None:
        if not self.join_keys:
            raise ValueError(f"Entity {self.name!r} needs at least one join key.")


@dataclass(frozen=True)
class FeatureView:
    """Timestamped feature rows of one entity, from a Parquet file, folder or glob.

    A feature row counts for an event only if its `timestamp` is at or before the event's
    and, with a `ttl`, no older than that. Rows with the same key and timestamp are told
    apart by `created_timestamp` (the latest write wins).
    """

    name: str
    entity: Entity
    source: str
    timestamp: str
    features: tuple[str, ...]
    ttl: timedelta | None = None
    created_timestamp: str | None = None
    description: str = ""

    def __post_init__(self) -> None:
        clash = set(self.features) & {*self.entity.join_keys, self.timestamp}
        if clash:
            raise ValueError(
                f"FeatureView {self.name!r}: {sorted(clash)} are keys or the timestamp, not "
                "features."
            )
        if self.ttl is not None and self.ttl <= timedelta(0):
            raise ValueError(f"FeatureView {self.name!r}: ttl must be positive, got {self.ttl}.")

    @property
    def version(self) -> str:
        return _digest(self.definition())

    def definition(self) -> dict[str, Any]:
        """The view as plain data (what is hashed, and what the registry records)."""
        return {
            "name": self.name,
            "entity": {"name": self.entity.name, "join_keys": list(self.entity.join_keys)},
            "source": self.source,
            "timestamp": self.timestamp,
            "features": list(self.features),
            "ttl_seconds": None if self.ttl is None else self.ttl.total_seconds(),
            "created_timestamp": self.created_timestamp,
        }


@dataclass(frozen=True)
class FeatureService:
    """The named set of feature views a model uses; feature names must not collide."""

    name: str
    views: tuple[FeatureView, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        seen: dict[str, str] = {}
        for view in self.views:
            for feature in view.features:
                if feature in seen:
                    raise ValueError(
                        f"FeatureService {self.name!r}: feature {feature!r} comes from both "
                        f"{seen[feature]!r} and {view.name!r}; rename one in its view."
                    )
                seen[feature] = view.name

    @property
    def features(self) -> tuple[str, ...]:
        return tuple(f for view in self.views for f in view.features)

    @property
    def version(self) -> str:
        return _digest({"name": self.name, "views": [v.definition() for v in self.views]})


def _digest(body: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:12]
