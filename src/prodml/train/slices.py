"""Metrics per declared slice (e.g. region, plan, month), each with a bootstrap
interval; a slice with too few rows is reported as skipped rather than as a noisy figure."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from prodml.train.bootstrap import bootstrap_interval
from prodml.train.evaluate import metric


@dataclass(frozen=True)
class SliceResult:
    column: str
    value: str
    rows: int
    metric: str
    estimate: float
    low: float
    high: float
    skipped: str = ""  # why no figure is given, when it is not


def slice_metrics(
    frame: pd.DataFrame,
    *,
    label: str,
    score: str,
    slices: list[str],
    metric_name: str = "roc_auc",
    min_rows: int = 200,
    resamples: int = 200,
    seed: int = 0,
) -> list[SliceResult]:
    """`metric_name` for every value of every column in `slices`, largest slices first."""
    missing = [c for c in [label, score, *slices] if c not in frame.columns]
    if missing:
        raise ValueError(
            f"Slices need column(s) {missing}; the evaluation set has {list(frame.columns)}."
        )
    fn, _ = metric(metric_name)
    out = []
    for column in slices:
        for value, part in sorted(
            frame.groupby(column, dropna=False, observed=True), key=lambda g: -len(g[1])
        ):
            y, s = part[label].to_numpy(), part[score].to_numpy(dtype=float)
            name = "missing" if pd.isna(value) else str(value)
            if len(part) < min_rows:
                reason = f"{len(part)} rows, fewer than min_rows={min_rows}"
                out.append(
                    SliceResult(column, name, len(part), metric_name, *(float("nan"),) * 3, reason)
                )
                continue
            estimate = fn(y, s)
            if np.isnan(estimate):
                out.append(
                    SliceResult(
                        column,
                        name,
                        len(part),
                        metric_name,
                        *(float("nan"),) * 3,
                        "undefined here (one class only)",
                    )
                )
                continue
            low, high = bootstrap_interval(fn, y, s, resamples=resamples, seed=seed)
            out.append(SliceResult(column, name, len(part), metric_name, estimate, low, high))
    return out
