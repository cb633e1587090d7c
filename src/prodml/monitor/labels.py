"""Ground truth, whenever it arrives, joined to the predictions it belongs to.

Labels are stored by prediction: the request id and the row within the request (what
`POST /v1/feedback` takes). A labels file that knows no request ids is matched to the
prediction log by the columns it shares with the logged inputs (entity keys and an event
time, say); every logged prediction of the same event gets the label.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from prodml.errors import DataValidationError
from prodml.monitor.traffic import DECISION, META
from prodml.store import Label, Override

LABEL = "label_true"  # the joined truth in a traffic frame (`label` is the model's decision)
LABELLED_AT = "label_received_at"  # when that truth was recorded
OVERRIDDEN = "overridden"  # a person replaced the model's decision on this row


@dataclass(frozen=True)
class Matched:
    labels: list[Label]
    unmatched: int  # rows of the file that found no logged prediction


def join_labels(traffic: pd.DataFrame, labels: Sequence[Label]) -> pd.DataFrame:
    """`traffic` (a `traffic_frame`) with the truth of each row as `label_true` (NaN where
    none came yet) and when it was recorded as `label_received_at`."""
    known = pd.DataFrame(
        {
            "request_id": [x.request_id for x in labels],
            "row": np.array([x.row for x in labels], dtype=np.int64),
            LABEL: np.array([x.label for x in labels], dtype=float),
            LABELLED_AT: pd.to_datetime(
                pd.Series([x.received_at for x in labels], dtype=object), utc=True
            ),
        }
    )
    out = traffic.drop(columns=[LABEL, LABELLED_AT], errors="ignore")
    return out.merge(known, on=["request_id", "row"], how="left", validate="many_to_one")


def apply_overrides(traffic: pd.DataFrame, overrides: Sequence[Override]) -> pd.DataFrame:
    """`traffic` with each row a person overrode flagged `OVERRIDDEN` and, for a
    classifier, its decision (`DECISION`) the person's: the decision that stood."""
    keyed = pd.DataFrame(
        {
            "request_id": [o.request_id for o in overrides],
            "row": np.array([o.row for o in overrides], dtype=np.int64),
            "_decided": np.array([o.decision for o in overrides], dtype=float),
        }
    )
    out = traffic.merge(keyed, on=["request_id", "row"], how="left", validate="many_to_one")
    out[OVERRIDDEN] = out["_decided"].notna()
    if DECISION in out:
        out[DECISION] = out[DECISION].mask(out[OVERRIDDEN], out["_decided"])
    return out.drop(columns="_decided")


def match_labels(
    frame: pd.DataFrame,
    traffic: pd.DataFrame,
    *,
    label: str,
    on: Sequence[str] = (),
    source: str = "the labels",
    classifier: bool = False,
) -> Matched:
    """The labels in `frame`'s column `label`, each tied to the predictions it belongs to:
    by `request_id` (and `row`, default 0) when `on` is empty, else by the columns `on`
    shared with the logged inputs of `traffic`. A `classifier`'s labels must be 0 or 1."""
    keys = list(on) or ["request_id"]
    missing = [c for c in [label, *keys] if c not in frame.columns]
    if missing:
        raise DataValidationError(
            f"{source} have no column(s) {', '.join(missing)}; they have "
            f"{', '.join(map(str, frame.columns))}. Name the label with --label and the "
            "columns to match on with --on (default: request_id)."
        )
    truth = frame[[*keys, *(["row"] if not on and "row" in frame else []), label]]
    bad = truth[label].isna() | ~np.isfinite(pd.to_numeric(truth[label], errors="coerce"))
    if bad.any():
        first = int(np.flatnonzero(bad.to_numpy())[0])
        raise DataValidationError(
            f"{source}: column {label!r} row {first} is {truth[label].iloc[first]!r}, not a "
            f"number ({int(bad.sum())} such rows). Drop rows whose truth is not known yet."
        )
    if classifier:
        wrong = ~pd.to_numeric(truth[label]).isin([0, 1])
        if wrong.any():
            first = int(np.flatnonzero(wrong.to_numpy())[0])
            raise DataValidationError(
                f"{source}: column {label!r} row {first} is {truth[label].iloc[first]!r}; a "
                f"classifier's label is 0 or 1 ({int(wrong.sum())} rows are not)."
            )
    if not on:
        rows = truth["row"] if "row" in truth else pd.Series(0, index=truth.index)
        return Matched(
            [
                Label(str(r), float(y), int(i))
                for r, i, y in zip(truth["request_id"], rows, truth[label], strict=True)
            ],
            0,
        )
    absent = [c for c in keys if c not in traffic.columns]
    if absent:
        raise DataValidationError(
            f"The prediction log has no input(s) {', '.join(absent)} to match {source} on; "
            f"its inputs are {', '.join(c for c in traffic.columns if c not in META)}."
        )
    left = truth.assign(_at=np.arange(len(truth)))
    right = traffic[[*keys, "request_id", "row"]]
    for key in keys:  # match text with text and numbers with numbers, as a person would
        left, right = _comparable(left, right, key)
    joined = left.merge(right, on=keys, how="inner")
    return Matched(
        [
            Label(str(r), float(y), int(i))
            for r, i, y in zip(joined["request_id"], joined["row"], joined[label], strict=True)
        ],
        len(truth) - joined["_at"].nunique(),
    )


def _comparable(
    left: pd.DataFrame, right: pd.DataFrame, key: str
) -> tuple[pd.DataFrame, pd.DataFrame]:
    a, b = left[key], right[key]
    if pd.api.types.is_datetime64_any_dtype(a) or pd.api.types.is_datetime64_any_dtype(b):
        a, b = pd.to_datetime(a, utc=True), pd.to_datetime(b, utc=True, format="ISO8601")
    elif pd.api.types.is_numeric_dtype(a) and pd.api.types.is_numeric_dtype(b):
        a, b = a.astype(float), b.astype(float)
    else:
        a, b = a.astype(str), b.astype(str)
    return left.assign(**{key: a}), right.assign(**{key: b})
