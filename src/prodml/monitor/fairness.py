"""Fairness over time: for each declared sensitive attribute (`monitoring.sensitive`), the
group metrics of a classifier's decisions, as Fairlearn computes them, at registration
(on the held-out rows, kept in the reference) and again in every labelled window, so a
widening gap between groups shows when it began.

Per group: selection rate, true and false positive rates; per attribute: the demographic
parity difference (largest gap in selection rate) and the equalized odds difference
(largest gap in TPR or FPR). Groups under `min_rows` labelled rows are left out.
`bias_drift` says when a window's gap widened past its registration value by more than
chance (the `bias-drift` alert).
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
        counts = pd.DataFrame({"group": g, "y": y}).groupby("group")["y"].agg(["size", "sum"])
        out[attribute] = {
            "groups": {
                str(k): {m: float(v) for m, v in row.items()}
                | {"rows": float(counts.loc[k, "size"]), "positives": float(counts.loc[k, "sum"])}
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


def bias_drift(
    live: dict[str, dict[str, Any]], registered: dict[str, dict[str, Any]] | None, z: float = 1.96
) -> dict[str, float]:
    """Per attribute measured both now and at registration: 1.0 when a gap (demographic
    parity or equalized odds) widened past its registration value by more than both
    measurements' uncertainty (`z` standard errors of the difference, from the group
    sizes), else 0.0. Attributes registered without group sizes are not judged."""
    out: dict[str, float] = {}
    for attribute, now in live.items():
        then = (registered or {}).get(attribute)
        if not then:
            continue
        widened = []
        for gap in GAPS:
            se_now, se_then = _gap_error(now, gap), _gap_error(then, gap)
            if se_now is None or se_then is None:
                continue
            widened.append(now[gap] - then[gap] > z * float(np.hypot(se_now, se_then)))
        if widened:
            out[attribute] = float(any(widened))
    return out


def _gap_error(found: dict[str, Any], gap: str) -> float | None:
    """The standard error of a gap between the two groups furthest apart on its rate."""
    groups = found["groups"].values()
    if any("rows" not in g for g in groups):
        return None
    if gap == "demographic_parity_difference":
        rated = [(g["selection_rate"], g["rows"]) for g in groups]
    else:  # the rate (TPR or FPR) whose gap is the larger, over its own denominators
        tpr = [(g["true_positive_rate"], g["positives"]) for g in groups]
        fpr = [(g["false_positive_rate"], g["rows"] - g["positives"]) for g in groups]
        rated = max(tpr, fpr, key=lambda r: max(p for p, _ in r) - min(p for p, _ in r))
    rated = [(p, n) for p, n in rated if n > 0 and np.isfinite(p)]
    if len(rated) < 2:
        return None
    (low, n_low), (high, n_high) = min(rated), max(rated)
    return float(np.sqrt(low * (1 - low) / n_low + high * (1 - high) / n_high))
