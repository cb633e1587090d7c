"""Realized performance of a window once its labels are in: the metrics training evaluation
reports, each with a bootstrap interval, overall and per slice."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.metrics import accuracy_score, f1_score

from prodml.train.bootstrap import bootstrap_interval
from prodml.train.evaluate import METRICS, classification_metrics, regression_metrics
from prodml.train.slices import SliceResult, slice_metrics

CLASSIFICATION_METRICS = ("roc_auc", "pr_auc", "log_loss", "brier", "accuracy", "f1")
REGRESSION_METRICS = ("rmse", "mae", "r2")


@dataclass(frozen=True)
class Figure:
    """A metric on a window's labelled rows, with its 95 % bootstrap interval (NaN where
    the interval is not computed: accuracy and F1 at the model's own decisions, R²)."""

    value: float
    low: float = float("nan")
    high: float = float("nan")


def realized(
    y: np.ndarray,
    score: np.ndarray,
    decided: np.ndarray | None = None,
    *,
    resamples: int = 100,
    seed: int = 0,
) -> dict[str, Figure]:
    """The window's metrics: a classifier's when `decided` (its 0/1 decisions) is given,
    else a regression's; intervals for the metrics of `train.evaluate.METRICS`."""
    y, score = np.asarray(y, dtype=float), np.asarray(score, dtype=float)
    if decided is not None:
        values = classification_metrics(y, score)
        d = np.asarray(decided, dtype=float)
        known = y.size > 0 and not np.isnan(d).any()  # decisions are in every record
        t = y.astype(int)
        values["accuracy"] = float(accuracy_score(t, d.astype(int))) if known else float("nan")
        values["f1"] = (
            float(f1_score(t, d.astype(int), zero_division=np.nan)) if known else float("nan")
        )
    else:
        values = regression_metrics(y, score)
    out = {}
    for name, value in values.items():
        if name in METRICS and y.size:
            fn, _ = METRICS[name]
            low, high = bootstrap_interval(fn, y, score, resamples=resamples, seed=seed)
            out[name] = Figure(value, low, high)
        else:
            out[name] = Figure(value)
    return out


def realized_by_slice(
    rows: pd.DataFrame,
    *,
    label: str,
    score: str,
    slices: Sequence[str],
    metric_name: str,
    min_rows: int = 200,
) -> list[SliceResult]:
    """The headline metric per value of each slice column, with intervals; slices under
    `min_rows` labelled rows are listed as skipped, with why."""
    present = [c for c in slices if c in rows.columns]
    return slice_metrics(
        rows, label=label, score=score, slices=present, metric_name=metric_name, min_rows=min_rows
    )
