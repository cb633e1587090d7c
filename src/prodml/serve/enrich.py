"""Requests by entity keys: the model's stored features are looked up in the online store
as of the request's moment, so a client sends only keys and its own fields."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from prodml.clock import Clock
from prodml.features.definitions import FeatureService
from prodml.features.lookup import get_online_features
from prodml.features.online import OnlineStore
from prodml.serve.coalesce import Coalescer


class Enricher:
    """Adds the features of `service` to request rows, from `store`, at `clock.now()`."""

    def __init__(self, store: OnlineStore, service: FeatureService, clock: Clock) -> None:
        self.store = store
        self.service = service
        self.clock = clock
        self.provided = frozenset(service.features)
        key_types = {k: v.entity.value_type for v in service.views for k in v.entity.join_keys}
        # On-demand inputs that no view provides come with the request; they are numbers
        # unless they are also keys.
        self.request_fields: dict[str, type] = {
            **key_types,
            **{f: float for f in service.request_inputs if f not in key_types},
        }
        # The server's path: requests waiting at once share one lookup (see coalesce.py).
        self.enrich_concurrently = Coalescer(self.enrich, name="prodml-lookup")

    def enrich(self, rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """Each row with the service's features and, per view, their age and status."""
        found = get_online_features(self.store, self.service, rows, now=self.clock.now())
        return [{**row, **features} for row, features in zip(rows, found, strict=True)]
