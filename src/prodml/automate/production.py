"""Training rows from production: what a model was asked (the logged inputs and the
features the server looked up, so training sees exactly what serving saw), joined by
request id and row with the outcomes that came back, and recorded as a snapshot.

Rows a person overrode keep the outcome that came back; rows whose outcome exists only
because of the model's own decision (a declared feedback loop) are flagged, and kept or
left out as the policy says.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

import pandas as pd

from prodml.data.contract import ColumnContract, Contract
from prodml.data.sources.memory import MemorySource
from prodml.monitor.labels import LABEL, LABELLED_AT, join_labels
from prodml.monitor.traffic import DECISION, traffic_frame
from prodml.store import SnapshotRecord

if TYPE_CHECKING:
    from prodml.workspace import Workspace

TIME = "answered_at"  # when the row was answered: its place in time for training
KEYS = ("request_id", "row")


@dataclass
class Batch:
    """The labelled production rows of one retrain, and what was done with them."""

    rows: pd.DataFrame
    feedback_loop: int = 0  # rows labelled only because of the model's own decision
    excluded: int = 0  # of those, left out by the policy
    skipped: str = ""  # why no production rows are used at all, if so
    figures: dict[str, Any] = field(default_factory=dict)


def labelled_rows(
    ws: Workspace,
    model: str,
    columns: Sequence[str],
    *,
    after: datetime | None,
    through: datetime,
    numeric: Sequence[str] = (),
    labelled_only_when: float | None = None,
    feedback_rows: str = "keep",
    personal: Sequence[str] = (),
) -> Batch:
    """`model`'s answered rows whose outcome was recorded in (`after`, `through`]: the
    keys, `TIME`, the logged `columns` (those it logged) and the outcome as `LABEL`.
    The `numeric` columns are numbers however the log kept them: a feature missing from
    every row of a batch comes back from the log untyped, and would else be text."""
    if personal:
        return Batch(
            pd.DataFrame(),
            skipped=f"the model reads personal columns {sorted(personal)}, which the log "
            "keeps only hashed: production rows cannot be trained on",
        )
    records = ws.prediction_log(model).read()  # every server of the model logs here
    if records.empty:
        return Batch(pd.DataFrame(), skipped="the prediction log holds no answered row")
    traffic = traffic_frame(records).drop_duplicates(list(KEYS), keep="first")
    joined = join_labels(traffic, ws.metadata.list_labels(model))
    received = joined[LABELLED_AT]
    fresh = joined[LABEL].notna() & (received <= pd.Timestamp(through))
    if after is not None:
        fresh &= received > pd.Timestamp(after)
    rows = joined[fresh]
    batch = Batch(pd.DataFrame())
    if labelled_only_when is not None and DECISION in rows:
        looped = rows[DECISION].eq(labelled_only_when).fillna(False).astype(bool)
        batch.feedback_loop = int(looped.sum())
        if feedback_rows == "exclude":
            batch.excluded = batch.feedback_loop
            rows = rows[~looped]
    kept = [c for c in dict.fromkeys(columns) if c in rows.columns and c not in KEYS]
    batch.rows = (
        rows[[*KEYS, "timestamp", *kept, LABEL]]
        .rename(columns={"timestamp": TIME})
        .reset_index(drop=True)
    )
    for column in set(numeric) & set(kept):
        batch.rows[column] = pd.to_numeric(batch.rows[column]).astype("float64")
    batch.figures = {
        "rows": len(batch.rows),
        "from": str(batch.rows[TIME].min()) if len(batch.rows) else None,
        "to": str(batch.rows[TIME].max()) if len(batch.rows) else None,
        "positive_share": float(batch.rows[LABEL].mean()) if len(batch.rows) else None,
        "feedback_loop_rows": batch.feedback_loop,
        "feedback_loop_excluded": batch.excluded,
    }
    return batch


def record_batch(
    ws: Workspace, model: str, batch: Batch, *, parents: Sequence[str] = ()
) -> SnapshotRecord:
    """`batch` ingested as snapshot `<model>.production` (validated against a contract of
    its columns' types), with the snapshots it continues as its parents."""
    contract = _contract(f"{model}.production", batch.rows)
    result = ws.ingest(
        MemorySource(batch.rows, name=f"prediction log of {model}, labelled rows"),
        contract,
        parents=parents,
    )
    return result.snapshot


def _contract(name: str, rows: pd.DataFrame) -> Contract:
    columns = {}
    for column in rows.columns:
        values = rows[column]
        if column == TIME:
            kind = "timestamp"
        elif column == "row":
            kind = "integer"
        elif pd.api.types.is_bool_dtype(values):
            kind = "boolean"
        elif pd.api.types.is_numeric_dtype(values):
            kind = "float"
        else:
            kind = "string"
        required = column in (*KEYS, TIME, LABEL)
        columns[str(column)] = ColumnContract(type=kind, nullable=not required)  # type: ignore[arg-type]
    return Contract(
        name=name,
        columns=columns,
        keys=list(KEYS),
        event_timestamp=TIME,
        max_reject_fraction=0.05,
    )
