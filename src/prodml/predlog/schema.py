"""The one shape of a logged prediction, shared by every writer (HTTP, stream, batch) and
every reader (monitoring, rollouts, continuous training): as a `TypedDict` for the rows
the servers append, and as Arrow types for the tables batch scoring appends.

A record names the model version that answered, what it was asked (`inputs`), what the
feature store added (`features`), and the answer: `probability`, `label` and
`prediction_set` for a classifier, `value` and `interval` for a regressor. `deployment`,
`arm` and `shadow` say which traffic policy routed it, and `fallback` why the primary arm
answered a caller routed to a candidate; they are absent outside a deployment.

A row refused before it could be scored (a 422, a batch reject) is logged too, so
monitoring counts refusals: it has `rejected` (its reasons, ``"<field>: <kind>"``) and
`sent` (its values as text) instead of `inputs` and any answer (see `serve.rejects`).
"""

from datetime import datetime
from typing import Any, NotRequired, TypedDict

import pyarrow as pa

CHANNELS = ("http", "stream", "batch")


class PredictionRecord(TypedDict):
    """One answered row."""

    request_id: str  # the request's id; a batch's id for batch scoring
    row: int  # the row's place in its request or batch file
    timestamp: str | datetime  # when it was answered, on the workspace's clock (aware)
    channel: str  # one of CHANNELS
    model: str
    version: str
    inputs: dict[str, Any]  # the request row as validated
    features: NotRequired[dict[str, Any]]  # what enrichment added (with ages and statuses)
    probability: NotRequired[float]  # a classifier's score of the positive class
    label: NotRequired[int]  # its decision at the threshold
    prediction_set: NotRequired[list[int] | None]  # its conformal set
    value: NotRequired[float]  # a regressor's prediction
    interval: NotRequired[list[float | None] | None]  # its conformal interval
    coverage: float | None  # the conformal coverage promised, if any
    latency_ms: NotRequired[float]  # server time for the whole request
    deployment: NotRequired[str]  # the deployment that routed it
    arm: NotRequired[str]  # the arm of its traffic policy (stable, candidate, an A/B arm)
    shadow: NotRequired[bool]  # scored on a copy of the traffic; never returned
    fallback: NotRequired[str]  # why its arm's candidate did not answer (the primary did)


class RejectRecord(TypedDict):
    """One row refused before scoring."""

    request_id: str
    row: int  # -1: the request as a whole (its body was not JSON, say)
    timestamp: str | datetime
    channel: str
    model: str
    version: str  # whose signature refused it
    sent: dict[str, str | None]  # the row as sent, each value as text
    rejected: list[str]  # one reason per bad field, "<field>: <kind>"
    deployment: NotRequired[str]
    arm: NotRequired[str]  # whose schema refused it


# Arrow types of the fields a table of records may carry; `inputs` and `features` are
# structs of the model's own columns.
ARROW_TYPES: dict[str, pa.DataType] = {
    "request_id": pa.string(),
    "row": pa.int64(),
    "timestamp": pa.string(),
    "channel": pa.string(),
    "model": pa.string(),
    "version": pa.string(),
    "probability": pa.float64(),
    "label": pa.int64(),
    "prediction_set": pa.list_(pa.int64()),
    "value": pa.float64(),
    "interval": pa.list_(pa.float64(), 2),
    "coverage": pa.float64(),
    "latency_ms": pa.float64(),
    "deployment": pa.string(),
    "arm": pa.string(),
    "shadow": pa.bool_(),
    "fallback": pa.string(),
    "rejected": pa.list_(pa.string()),
}


def arrow_table(columns: dict[str, pa.Array]) -> pa.Table:
    """A table of records from its `columns`, each cast to its field's type (`inputs`,
    `features` and `sent` as they are)."""
    arrays = {
        name: values.cast(ARROW_TYPES[name]) if name in ARROW_TYPES else values
        for name, values in columns.items()
    }
    unknown = set(arrays) - set(ARROW_TYPES) - {"inputs", "features", "sent"}
    if unknown:
        raise ValueError(f"not prediction record fields: {sorted(unknown)}")
    return pa.table(arrays)
