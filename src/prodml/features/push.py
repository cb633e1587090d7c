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
    """Write `rows` to the offline log as they are, then to the online store. Rows carry the
    join keys, the timestamp and the features (and the created timestamp if the view has
    one); for a view with a transformation, its input columns instead: the log is the
    view's source, so training transforms them exactly as the online write does here.
    Returns rows written."""
    if rows.empty:
        return 0
    raw = rows.copy()
    raw[view.timestamp] = pd.to_datetime(raw[view.timestamp], utc=True)
    frame = raw if view.transformation is None else view.transformation(raw.copy())
    needed = [*view.entity.join_keys, view.timestamp, *view.features]
    if view.created_timestamp:
        needed.append(view.created_timestamp)
    missing = [c for c in needed if c not in frame.columns]
    if missing:
        after = " after its transformation" if view.transformation else ""
        raise ValueError(
            f"push to view {view.name!r}: rows lack {missing}{after}; they need {needed}."
        )
    if view.transformation is None:
        raw = raw[needed]
    # Offline first: if the process dies in between, training may see a row serving has not
    # yet, never the reverse; replaying the push is harmless (newest wins online).
    log_dir.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
    final = log_dir / f"push-{stamp}-{uuid.uuid4().hex[:8]}.parquet"
    partial = final.with_suffix(".partial")
    raw.to_parquet(partial, index=False)
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
