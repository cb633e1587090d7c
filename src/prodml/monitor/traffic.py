"""The prediction log as a table monitors can window: one row per answered prediction, its
time, model version and channel, its score, and every model input (sent or looked up) as
a column of its own; on request, the rows refused before scoring too, with their reasons."""

from __future__ import annotations

from typing import Any

import pandas as pd

PREDICTION = "prediction"  # the score column: the probability, or the predicted value
DECISION = "predicted_label"  # a classifier's decision at its threshold
REJECTED = "rejected"  # why a row was refused before scoring (`traffic_frame(rejected=True)`)
# What a deployment's router adds (see `predlog.schema`): kept as columns when logged.
ROUTING = ("deployment", "arm", "shadow", "fallback", "latency_ms")
META = (
    "timestamp",
    "version",
    "channel",
    "request_id",
    "row",
    PREDICTION,
    DECISION,
    REJECTED,
    *ROUTING,
)


def traffic_frame(
    records: pd.DataFrame, *, rejected: bool = False, shadow: bool = False
) -> pd.DataFrame:
    """`PredictionLog.read()`'s records flattened: `timestamp` (UTC), `version`,
    `channel`, `request_id`, `row`, `prediction` (and a classifier's `predicted_label`),
    the `ROUTING` columns a deployment logged, then the inputs and enriched features, in
    log order.

    Rows refused before scoring are left out, unless `rejected`: then they are in too,
    with their reasons joined by "; " in `REJECTED` (missing on answered rows), no score,
    and their values as sent, as numbers where the answered rows' column is numeric.
    A shadow arm's scores (answered to no one) are left out unless `shadow`."""
    if not shadow and "shadow" in records:
        records = records[records["shadow"].ne(True)]
    refused = _refused(records)
    answered = _answered(records[~refused])
    if not rejected:
        return answered
    answered[REJECTED] = pd.Series(pd.NA, index=answered.index, dtype="string")
    if not refused.any():
        return answered
    rows = records[refused]
    sent = _flatten(rows, "sent")
    for name in sent.columns:
        if name in answered and pd.api.types.is_numeric_dtype(answered[name]):
            sent[name] = pd.to_numeric(sent[name], errors="coerce")
    reasons = pd.Series(["; ".join(r) for r in rows["rejected"]], index=rows.index, dtype="string")
    frame = pd.concat([_head(rows), sent], axis=1).assign(**{REJECTED: reasons})
    parts = [p for p in (answered, frame) if len(p)]
    return pd.concat(parts).sort_index(kind="stable").reset_index(drop=True)


def _refused(records: pd.DataFrame) -> pd.Series:
    if "rejected" not in records:
        return pd.Series(False, index=records.index)
    return records["rejected"].map(
        lambda r: r is not None and not isinstance(r, float) and len(r) > 0
    )


def _head(records: pd.DataFrame) -> pd.DataFrame:
    head = pd.DataFrame(
        {
            "timestamp": pd.to_datetime(records["timestamp"], utc=True, format="ISO8601"),
            "version": records["version"].astype(str),
            "channel": records.get("channel", pd.Series("http", index=records.index)),
            "request_id": records["request_id"].astype(str),
            "row": records.get("row", pd.Series(0, index=records.index)).fillna(0).astype("int64"),
        }
    )
    for column in ROUTING:
        if column in records:
            head[column] = records[column]
    return head


def _answered(records: pd.DataFrame) -> pd.DataFrame:
    if records.empty:
        return pd.DataFrame(columns=list(META))
    score = records["probability"] if "probability" in records else records["value"]
    base = _head(records)
    base[PREDICTION] = pd.to_numeric(score, errors="coerce")
    if "probability" in records:  # a classifier: its decisions (unknown if not logged)
        decided = records["label"] if "label" in records else pd.Series(pd.NA, index=records.index)
        base[DECISION] = pd.to_numeric(decided, errors="coerce").astype("Float64")
    columns = [_flatten(records, "inputs")]
    if "features" in records:
        columns.append(_flatten(records, "features"))
    inputs = pd.concat(columns, axis=1)
    inputs = inputs.loc[:, ~inputs.columns.duplicated()]
    return pd.concat([base, inputs], axis=1)


def _flatten(records: pd.DataFrame, column: str) -> pd.DataFrame:
    values: list[Any] = [v if isinstance(v, dict) else {} for v in records[column]]
    return pd.DataFrame.from_records(values, index=records.index)


def between(traffic: pd.DataFrame, start: Any, end: Any) -> pd.DataFrame:
    """The rows of a `traffic_frame` answered in [start, end) (aware times, any zone)."""
    at = traffic["timestamp"]
    return traffic[(at >= pd.Timestamp(start)) & (at < pd.Timestamp(end))]
