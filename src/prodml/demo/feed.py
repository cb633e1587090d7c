"""The demos' streaming pipeline: the online store is backfilled up to the first replayed
request, then each view's rows are written as the replayed clock reaches their time."""

from __future__ import annotations

from collections import defaultdict
from datetime import timedelta
from typing import Any

import pandas as pd

from prodml.features.definitions import FeatureService, FeatureView
from prodml.features.materialize import materialize
from prodml.features.offline import rows_between
from prodml.features.online import OnlineStore

_SECOND = timedelta(seconds=1)


class Feed:
    """Writes `service`'s feature rows from `start` to `end` into `store` as `until`
    moves the replayed time forward (what a push pipeline would do live)."""

    def __init__(
        self, store: OnlineStore, service: FeatureService, start: pd.Timestamp, end: pd.Timestamp
    ) -> None:
        self.store = store
        self.pending: list[tuple[pd.Timestamp, FeatureView, tuple[Any, ...], dict[str, Any]]] = []
        for view in service.views:
            materialize(view, store, end=start.to_pydatetime())
            rows = rows_between(view, start.to_pydatetime(), end.to_pydatetime() + _SECOND)
            rows = rows.astype(object).where(rows.notna(), None)  # missing is None, as online
            keys = rows[list(view.entity.join_keys)].itertuples(index=False)
            values = rows[list(view.features)].to_dict("records")
            self.pending += [
                (ts, view, tuple(key), {str(f): v for f, v in row.items()})
                for ts, key, row in zip(rows["__ts"], keys, values, strict=True)
            ]
        self.pending.sort(key=lambda item: item[0])
        self.next = 0

    def until(self, now: pd.Timestamp) -> None:
        """Write every row due by `now`, one write per view (a row's newest time wins)."""
        due: dict[str, list[Any]] = defaultdict(list)
        views = {}
        while self.next < len(self.pending) and self.pending[self.next][0] <= now:
            ts, view, key, values = self.pending[self.next]
            due[view.name].append((key, ts.to_pydatetime(), values))
            views[view.name] = view
            self.next += 1
        for name, rows in due.items():
            self.store.write(views[name], rows)
