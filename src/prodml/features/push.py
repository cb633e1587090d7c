"""Push: fresh feature rows from a streaming pipeline, to both stores at once.

The rows go to the online store (serving sees them at once) and are appended, as one
Parquet file, to the offline log folder (`log_dir`). Point the view's `source` at that
folder (e.g. ``features/weather/*.parquet``) and training sets see exactly what serving
saw: one write path, no skew.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from prodml.features.definitions import FeatureView
from prodml.features.online import OnlineStore


def push(view: FeatureView, rows: pd.DataFrame, *, store: OnlineStore, log_dir: Path) -> int:
    """Write `rows` (join keys, timestamp, features and, if the view has one, the created
    timestamp) to the offline log, then to the online store. Returns rows written."""
    needed = [*view.entity.join_keys, view.timestamp, *view.features]
    if view.created_timestamp:
        needed.append(view.created_timestamp)
    missing = [c for c in needed if c not in rows.columns]
    if missing:
        raise ValueError(f"push to view {view.name!r}: rows lack {missing}; they need {needed}.")
    if rows.empty:
        return 0
    frame = rows[needed].copy()
    frame[view.timestamp] = pd.to_datetime(frame[view.timestamp], utc=True)
    # Offline first: if the process dies in between, training may see a row serving has not
    # yet, never the reverse; replaying the push is harmless (newest wins online).
    log_dir.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
    final = log_dir / f"push-{stamp}-{uuid.uuid4().hex[:8]}.parquet"
    partial = final.with_suffix(".partial")
    frame.to_parquet(partial, index=False)
    partial.replace(final)
    keys = list(view.entity.join_keys)
    records = frame.to_dict("records")
    return store.write(
        view,
        [
            (
                tuple(r[k] for k in keys),
                r[view.timestamp].to_pydatetime(),
                {f: r[f] for f in view.features},
            )
            for r in records
        ],
    )
