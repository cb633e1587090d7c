"""Confidence intervals by bootstrap: a metric's uncertainty on the evaluation rows, and a
paired interval for the difference between two models scored on the same rows."""

from __future__ import annotations

import functools
import math
from collections.abc import Callable

import numpy as np
from numpy.typing import ArrayLike

from prodml.train.evaluate import METRICS, Metric


def bootstrap_interval(
    metric: Metric,
    y_true: ArrayLike,
    score: ArrayLike,
    *,
    resamples: int = 200,
    level: float = 0.95,
    seed: int = 0,
) -> tuple[float, float]:
    """The percentile interval of `metric(y, score)` over rows resampled with replacement;
    resamples where the metric is undefined (NaN, e.g. AUC with one class) are skipped."""
    y, s = np.asarray(y_true), np.asarray(score, dtype=float)
    counted = _counted(metric, y, s)
    if counted is not None:
        values = _resampled(
            lambda idx: counted(np.bincount(idx, minlength=len(y))), len(y), resamples, seed
        )
    else:
        values = _resampled(lambda idx: metric(y[idx], s[idx]), len(y), resamples, seed)
    return _percentiles(values, level)


def paired_difference_interval(
    metric: Metric,
    y_true: ArrayLike,
    candidate: ArrayLike,
    reference: ArrayLike,
    *,
    resamples: int = 200,
    level: float = 0.95,
    seed: int = 0,
) -> tuple[float, float, float]:
    """`metric(candidate) - metric(reference)` on the same rows, and its interval from the
    same resampled rows for both models (pairing removes the rows' own luck)."""
    y = np.asarray(y_true)
    a, b = np.asarray(candidate, dtype=float), np.asarray(reference, dtype=float)
    observed = metric(y, a) - metric(y, b)
    if _is_auc(metric):
        auc_a, auc_b = _CountedAUC(y, a), _CountedAUC(y, b)

        def one(idx: np.ndarray) -> float:
            counts = np.bincount(idx, minlength=len(y))
            return auc_a(counts) - auc_b(counts)

    else:

        def one(idx: np.ndarray) -> float:
            return metric(y[idx], a[idx]) - metric(y[idx], b[idx])

    values = _resampled(one, len(y), resamples, seed)
    low, high = _percentiles(values, level)
    return float(observed), low, high


class _CountedAUC:
    """ROC AUC of resamples given as counts per row: the scores are ranked once, and each
    resample costs a few passes over the rows instead of a sort (ties count half, as in
    `evaluate`'s AUC, whose value it equals on the same resample)."""

    def __init__(self, y: np.ndarray, score: np.ndarray) -> None:
        _, self.group = np.unique(score, return_inverse=True)  # tied scores share a group
        self.groups = int(self.group.max()) + 1 if len(score) else 0
        self.positive = y.astype(bool)

    def __call__(self, counts: np.ndarray) -> float:
        weights = counts.astype(float)
        pos = np.bincount(self.group, weights * self.positive, minlength=self.groups)
        neg = np.bincount(self.group, weights * ~self.positive, minlength=self.groups)
        n_pos, n_neg = pos.sum(), neg.sum()
        if n_pos == 0 or n_neg == 0:
            return float("nan")
        below = np.cumsum(neg) - neg  # negatives scored below each group
        return float(np.dot(pos, below + neg / 2) / (n_pos * n_neg))


class _CountedAP:
    """Average precision (sklearn's: precision at each distinct score, weighted by the
    recall it adds) of resamples given as counts per row, the scores sorted once."""

    def __init__(self, y: np.ndarray, score: np.ndarray) -> None:
        _, self.group = np.unique(-score, return_inverse=True)  # highest score first
        self.groups = int(self.group.max()) + 1 if len(score) else 0
        self.positive = y.astype(bool)

    def __call__(self, counts: np.ndarray) -> float:
        weights = counts.astype(float)
        tp = np.cumsum(np.bincount(self.group, weights * self.positive, minlength=self.groups))
        fp = np.cumsum(np.bincount(self.group, weights * ~self.positive, minlength=self.groups))
        if tp[-1] == 0 or fp[-1] == 0:
            return float("nan")
        kept = (tp + fp) > 0
        precision = tp[kept] / (tp[kept] + fp[kept])
        recall = tp[kept] / tp[-1]
        return float(np.dot(np.diff(recall, prepend=0.0), precision))


def _counted(metric: Metric, y: np.ndarray, s: np.ndarray) -> Callable[[np.ndarray], float] | None:
    """`metric` of a resample given as counts per row, computed without copying rows,
    for the metrics that allow it (None for the others)."""
    if metric is METRICS["roc_auc"][0]:
        return _CountedAUC(y, s)
    if metric is METRICS["pr_auc"][0]:
        return _CountedAP(y, s)
    t = y.astype(float)
    losses = {
        "brier": (s - t) ** 2,
        "log_loss": -(
            t * np.log(np.clip(s, 1e-15, 1)) + (1 - t) * np.log(np.clip(1 - s, 1e-15, 1))
        ),
        "mae": np.abs(s - t),
        "rmse": (s - t) ** 2,
    }
    for name, loss in losses.items():
        if metric is METRICS[name][0]:
            return functools.partial(_mean, loss=loss, root=name == "rmse")
    return None


def _mean(counts: np.ndarray, loss: np.ndarray, root: bool) -> float:
    value = float(np.dot(counts, loss) / counts.sum())
    return math.sqrt(value) if root else value


def _is_auc(metric: Metric) -> bool:
    return metric is METRICS["roc_auc"][0]


def _resampled(
    one: Callable[[np.ndarray], float], rows: int, resamples: int, seed: int
) -> np.ndarray:
    if rows == 0:
        return np.empty(0)
    rng = np.random.default_rng(seed)
    values = np.array([one(rng.integers(0, rows, rows)) for _ in range(resamples)], dtype=float)
    return values[~np.isnan(values)]


def _percentiles(values: np.ndarray, level: float) -> tuple[float, float]:
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), e.g. 0.95; got {level}.")
    if values.size == 0:
        return float("nan"), float("nan")
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(values, [tail, 100 - tail])
    return float(low), float(high)
