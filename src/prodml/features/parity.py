"""Training/serving parity: does the online store serve, for a sample of entities, what
the offline store gives for the same moment?"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

import pandas as pd

from prodml.features.definitions import FeatureService
from prodml.features.lookup import get_online_features
from prodml.features.offline import get_training_set, sample_entities
from prodml.features.online import OnlineStore

_AT = "__parity_at"


@dataclass
class ParityReport:
    service: str
    at: datetime
    checked: int = 0
    mismatches: dict[str, int] = field(default_factory=dict)
    examples: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not any(self.mismatches.values())


def check_parity(
    store: OnlineStore, service: FeatureService, *, now: datetime, sample: int = 1000, seed: int = 0
) -> ParityReport:
    """Compare, for up to `sample` entities per view drawn from its offline rows, the
    online values at `now` with the training set's values for an event at `now`."""
    report = ParityReport(service.name, now)
    for view in service.views:
        entities = sample_entities(view, sample, seed)
        if entities.empty:
            continue
        one_view = FeatureService(f"{service.name}:{view.name}", views=(view,))
        rows: list[dict[str, Any]] = [
            {str(k): v for k, v in r.items()} for r in entities.to_dict("records")
        ]
        online = get_online_features(store, one_view, rows, now=now)
        events = entities.assign(**{_AT: pd.Timestamp(now)})
        offline = cast(pd.DataFrame, get_training_set(events, one_view, event_timestamp=_AT))
        report.checked += len(rows)
        for name in view.features:
            for i, served in enumerate(row[name] for row in online):
                trained = offline[name].iloc[i]
                if not _same(served, trained):
                    report.mismatches[name] = report.mismatches.get(name, 0) + 1
                    if len(report.examples) < 10:
                        report.examples.append(
                            {
                                "feature": name,
                                "entity": rows[i],
                                "online": served,
                                "offline": _plain(trained),
                            }
                        )
            report.mismatches.setdefault(name, 0)
    return report


def _same(served: Any, trained: Any) -> bool:
    trained = _plain(trained)
    if served is None or trained is None:
        return served is None and trained is None
    if isinstance(served, float) or isinstance(trained, float):
        return math.isclose(float(served), float(trained), rel_tol=1e-9, abs_tol=1e-12)
    return bool(served == trained)


def _plain(value: Any) -> Any:
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    return value.item() if hasattr(value, "item") else value
