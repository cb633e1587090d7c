"""Serving-time feature lookup: the online store's values for the entities in a request."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from prodml.features.definitions import FeatureService
from prodml.features.online import OnlineStore

MISSING, STALE, FRESH = "missing", "stale", "fresh"


def get_online_features(
    store: OnlineStore,
    service: FeatureService,
    entity_rows: Sequence[Mapping[str, Any]],
    *,
    now: datetime,
) -> list[dict[str, Any]]:
    """One dict per entity row: every feature of `service` (None when missing or stale),
    and per view `<view>__age_seconds` and `<view>__status` (fresh, stale or missing).

    A value older than its view's TTL at `now` is withheld as stale, exactly as the
    offline store would withhold it for an event at `now`. Entity rows also carry the
    request fields on-demand features read; those features are computed last, per row,
    by the function training uses.
    """
    out: list[dict[str, Any]] = [{} for _ in entity_rows]
    for view in service.views:
        keys = []
        for i, row in enumerate(entity_rows):
            absent = [k for k in view.entity.join_keys if k not in row]
            if absent:
                raise KeyError(f"entity row {i} has no {absent} (needed by view {view.name!r})")
            keys.append(tuple(row[k] for k in view.entity.join_keys))
        for result, found in zip(out, store.read(view, keys), strict=True):
            status, age = MISSING, None
            values: dict[str, Any] = {}
            if found is not None:
                ts, values = found
                age = (now - ts).total_seconds()
                stale = age < 0 or (view.ttl is not None and age > view.ttl.total_seconds())
                status = STALE if stale else FRESH
            if status == FRESH:
                result.update(zip(view.features, map(values.get, view.features), strict=True))
            else:
                result.update(dict.fromkeys(view.features))
            result[f"{view.name}__age_seconds"] = age
            result[f"{view.name}__status"] = status
    if service.on_demand:
        # Derived once per call, not per row: this is the serving path.
        inputs = service.request_inputs
        added = [f for odf in service.on_demand for f in odf.features]
        for i, (row, result) in enumerate(zip(entity_rows, out, strict=True)):
            absent = [f for f in inputs if f not in row]
            if absent:
                raise KeyError(f"entity row {i} has no {absent} (read by on-demand features)")
            full = service.add_on_demand({**{f: row[f] for f in inputs}, **result})
            result.update({f: full[f] for f in added})
    return out
