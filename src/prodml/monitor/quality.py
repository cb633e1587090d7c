"""Data quality of a window: rows refused before they could be scored, by reason; missing
values; numbers beyond anything training saw, and categories it never held.

Refused rows (`traffic.REJECTED`: a 422 at the API, a reject of batch scoring) never reach
the drift checks, which judge what the model answered; here they count. A sudden rise in
refusals is the loudest data-quality signal there is (a renamed category upstream, text
where a number was due), and a category training never saw is counted whether its row
was answered (a large vocabulary scores it as missing) or refused (a small one rejects it).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import pandas as pd

from prodml.monitor.reference import NUMERIC, Reference, present_numbers
from prodml.monitor.traffic import PREDICTION, REJECTED

# The findings' metric names.
REJECTED_SHARE = "rejected_share"  # refused rows of all rows in the window (the model's)
REJECTED_BY_REASON = "rejected_by_reason"  # of all rows, refused for one reason (its feature)
MISSING_SHARE = "missing_share"  # per feature, of the answered rows
OUT_OF_RANGE = "out_of_range_share"  # per numeric feature, of its values in all rows
UNSEEN_SHARE = "unseen_share"  # per categorical feature, of its values in all rows
METRICS = (REJECTED_SHARE, REJECTED_BY_REASON, MISSING_SHARE, OUT_OF_RANGE, UNSEEN_SHARE)
SHOWN = 3  # reasons and unseen categories an alert's detail names


@dataclass(frozen=True)
class Quality:
    """One window's data quality."""

    rows: int  # answered and refused
    rejected: int
    reasons: dict[str, int]  # refused rows per reason, most first
    missing: dict[str, float]  # feature -> share of answered rows with no value
    out_of_range: dict[str, float]  # numeric feature -> share of values beyond training's
    unseen_share: dict[str, float]  # categorical feature -> share of categories never seen
    # feature -> its most common categories training never saw, with their shares
    unseen: dict[str, list[tuple[str, float]]] = field(default_factory=dict)

    @property
    def rejected_share(self) -> float:
        return self.rejected / self.rows if self.rows else 0.0


def data_quality(reference: Reference, rows: pd.DataFrame) -> Quality:
    """The data quality of a window's `rows` (a `traffic_frame` with refused rows) against
    the `reference` of the version that served them: a number beyond the training rows'
    range is out of range; a category they never held is unseen."""
    refused = rows[REJECTED].notna() if REJECTED in rows else pd.Series(False, index=rows.index)
    answered = rows[~refused]
    reasons = Counter(
        reason for text in rows.loc[refused, REJECTED] for reason in str(text).split("; ")
    )
    missing: dict[str, float] = {}
    out_of_range: dict[str, float] = {}
    unseen_share: dict[str, float] = {}
    unseen: dict[str, list[tuple[str, float]]] = {}
    for name, column in reference.columns.items():
        if name == PREDICTION or name not in rows:
            continue
        missing[name] = float(answered[name].isna().mean()) if len(answered) else 0.0
        if column.kind == NUMERIC:
            values = present_numbers(pd.to_numeric(rows[name], errors="coerce"))
            ref = column.sorted_values
            if values.size and ref is not None and ref.size:
                outside = (values < ref[0]) | (values > ref[-1])
                out_of_range[name] = float(outside.mean())
            continue
        present = rows[name].dropna().astype(str)
        if present.empty:
            continue
        new = present[~present.isin(list(column.counts))]
        unseen_share[name] = len(new) / len(present)
        if len(new):
            counts = new.value_counts().head(SHOWN)
            unseen[name] = [(str(v), int(n) / len(present)) for v, n in counts.items()]
    return Quality(
        rows=len(rows),
        rejected=int(refused.sum()),
        reasons=dict(reasons.most_common()),
        missing=missing,
        out_of_range=out_of_range,
        unseen_share=unseen_share,
        unseen=unseen,
    )
