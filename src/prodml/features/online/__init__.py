"""Online stores: the latest feature values per entity, for serving.

One small interface, one module per backend, chosen by URL when first used:
``sqlite:///path/online.db`` (the embedded default) or ``redis://host:6379/0``.
Writes keep the newest value per key (an older row never overwrites a newer one), so
materializing twice, or out of order, gives the same state. Each store also keeps, per view,
how far it has been materialized: the mark lives with the data it describes, so an emptied
store starts again from the beginning.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol

from prodml.errors import ConfigError
from prodml.features.definitions import FeatureView

Key = tuple[Any, ...]


class OnlineStore(Protocol):
    """Latest feature values per entity key, per feature view."""

    def write(
        self, view: FeatureView, rows: Sequence[tuple[Key, datetime, Mapping[str, Any]]]
    ) -> int:
        """Upsert (key, event time, features) rows, newest time winning; returns rows written."""
        ...

    def read(
        self, view: FeatureView, keys: Sequence[Key]
    ) -> list[tuple[datetime, dict[str, Any]] | None]:
        """(event time, features) per key, None where the store has nothing."""
        ...

    def materialized_until(self, view: FeatureView) -> datetime | None:
        """Up to when this view (at its current version) was materialized into the store:
        where `materialize_incremental` starts. None when never, or the view changed since."""
        ...

    def set_materialized_until(self, view: FeatureView, until: datetime) -> None: ...

    def close(self) -> None: ...


def open_online_store(url: str) -> OnlineStore:
    scheme = url.split(":", 1)[0]
    if scheme == "sqlite":
        from prodml.features.online.sqlite import SqliteOnlineStore

        return SqliteOnlineStore(url)
    if scheme in ("redis", "rediss"):
        from prodml.features.online.redis import RedisOnlineStore

        return RedisOnlineStore(url)
    raise ConfigError(
        f"online store URL {url!r}: unknown scheme {scheme!r}; use sqlite:///path/online.db "
        "or redis://host:6379/0."
    )
