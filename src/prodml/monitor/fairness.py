"""Fairness over time: for each declared sensitive attribute (`monitoring.sensitive`), the
group metrics of a classifier's decisions, as Fairlearn computes them, at registration
(on the held-out rows, kept in the reference) and again in every labelled window, so a
widening gap between groups shows when it began.

Per group: selection rate, true and false positive rates; per attribute: the demographic
parity difference (largest gap in selection rate) and the equalized odds difference
(largest gap in TPR or FPR). Groups under `min_rows` labelled rows are left out.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from fairlearn.metrics import (
    MetricFrame,
    demographic_parity_difference,
    equalized_odds_difference,
    false_positive_rate,
    selection_rate,
    true_positive_rate,
)

GROUP_METRICS = {
    "selection_rate": selection_rate,
    "true_positive_rate": true_positive_rate,
    "false_positive_rate": false_positive_rate,
}
GAPS = ("demographic_parity_difference", "equalized_odds_difference")


def group_metrics(
    rows: pd.DataFrame,
    *,
    label: str,
    decision: str,
    sensitive: Sequence[str],
    min_rows: int = 100,
) -> dict[str, dict[str, Any]]:
    """Per attribute in `sensitive` (and present in `rows`): ``{"groups": {group: {metric:
    value}}, "demographic_parity_difference": x, "equalized_odds_difference": y}``."""
    out: dict[str, dict[str, Any]] = {}
    for attribute in sensitive:
        if attribute not in rows:
            continue
        groups = rows[attribute].astype("string").fillna("missing")
        sizes = groups.value_counts()
        large = sizes[sizes >= min_rows].index
        if large.size < 2:
            continue  # a gap needs two groups
        keep = groups.isin(large).to_numpy()
        y = rows[label].to_numpy(dtype=int)[keep]
        decided = rows[decision].to_numpy(dtype=float, na_value=np.nan)[keep]
        if np.isnan(decided).any():
            continue  # decisions were not logged
        d, g = decided.astype(int), groups.to_numpy()[keep]
        frame = MetricFrame(metrics=GROUP_METRICS, y_true=y, y_pred=d, sensitive_features=g)
        out[attribute] = {
            "groups": {
                str(k): {m: float(v) for m, v in row.items()}
                for k, row in frame.by_group.iterrows()
            },
            "demographic_parity_difference": float(
                demographic_parity_difference(y, d, sensitive_features=g)
            ),
            "equalized_odds_difference": float(
                equalized_odds_difference(y, d, sensitive_features=g)
            ),
        }
    return out
