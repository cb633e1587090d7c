"""Metrics of a model's scores against realized labels: classification and regression,
calibration, the cost-optimal threshold, and the metric registry slices and gates use."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numpy.typing import ArrayLike
from scipy.stats import rankdata
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    brier_score_loss,
    f1_score,
    log_loss,
    roc_auc_score,
)


def classification_metrics(
    y_true: ArrayLike, score: ArrayLike, *, threshold: float = 0.5
) -> dict[str, float]:
    """ROC AUC, PR AUC, log loss, Brier score, and accuracy and F1 at `threshold`.

    AUCs are NaN when only one class is present (they are undefined, not zero).
    """
    y = np.asarray(y_true).astype(int)
    p = np.clip(np.asarray(score, dtype=float), 1e-15, 1 - 1e-15)
    both = np.unique(y).size == 2
    predicted = (p >= threshold).astype(int)
    return {
        "roc_auc": float(roc_auc_score(y, p)) if both else float("nan"),
        "pr_auc": float(average_precision_score(y, p)) if both else float("nan"),
        "log_loss": float(log_loss(y, p, labels=[0, 1])),
        "brier": float(brier_score_loss(y, p)),
        "accuracy": float(accuracy_score(y, predicted)),
        "f1": float(f1_score(y, predicted, zero_division=0)),
    }


def regression_metrics(y_true: ArrayLike, predicted: ArrayLike) -> dict[str, float]:
    """RMSE, MAE and R² (R² is NaN when the truth is constant: it is undefined)."""
    y = np.asarray(y_true, dtype=float)
    p = np.asarray(predicted, dtype=float)
    error = p - y
    spread = float(np.sum((y - y.mean()) ** 2))
    return {
        "rmse": float(np.sqrt(np.mean(error**2))),
        "mae": float(np.mean(np.abs(error))),
        "r2": 1.0 - float(np.sum(error**2)) / spread if spread > 0 else float("nan"),
    }


def calibration_table(
    y_true: ArrayLike, score: ArrayLike, *, bins: int = 10
) -> list[dict[str, float]]:
    """Predicted against observed rate per score decile (equal-count bins): the points of a
    calibration curve, with how many rows each holds."""
    y = np.asarray(y_true).astype(int)
    p = np.asarray(score, dtype=float)
    order = np.argsort(p, kind="stable")
    return [
        {
            "mean_predicted": float(p[part].mean()),
            "observed": float(y[part].mean()),
            "rows": int(part.size),
        }
        for part in np.array_split(order, bins)
        if part.size
    ]


def best_threshold(
    y_true: ArrayLike, score: ArrayLike, *, cost_false_negative: float, cost_false_positive: float
) -> dict[str, float]:
    """The score threshold that minimises the total cost of errors, and that cost.

    Every distinct score is tried at once (cumulative counts over the sorted scores), so it
    is exact and O(n log n); flagging nothing and flagging everything are candidates too.
    """
    if cost_false_negative < 0 or cost_false_positive < 0:
        raise ValueError("Costs must be zero or more: they are what each kind of error costs.")
    y = np.asarray(y_true).astype(int)
    p = np.asarray(score, dtype=float)
    order = np.argsort(-p, kind="stable")
    sorted_p, sorted_y = p[order], y[order]
    # Flag the k highest scores, for k at each change of score (ties move together).
    cut = np.flatnonzero(np.r_[np.diff(sorted_p) != 0, True]) + 1
    flagged = np.r_[0, cut]
    true_pos = np.r_[0, np.cumsum(sorted_y)[cut - 1]]
    false_pos = flagged - true_pos
    false_neg = y.sum() - true_pos
    cost = cost_false_negative * false_neg + cost_false_positive * false_pos
    best = int(np.argmin(cost))
    threshold = 1.0 + 1e-12 if best == 0 else float(sorted_p[flagged[best] - 1])
    return {
        "threshold": threshold,
        "cost": float(cost[best]),
        "cost_per_row": float(cost[best] / max(len(y), 1)),
        "false_negatives": float(false_neg[best]),
        "false_positives": float(false_pos[best]),
    }


def _auc(y: np.ndarray, s: np.ndarray) -> float:
    """ROC AUC from ranks (Mann–Whitney U, ties as half): equal to scikit-learn's, without
    its input checks, which dominate when a bootstrap calls it thousands of times."""
    positives = int(np.count_nonzero(y))
    negatives = y.size - positives
    if positives == 0 or negatives == 0:
        return float("nan")
    ranks = rankdata(s)
    return float(
        (ranks[y.astype(bool)].sum() - positives * (positives + 1) / 2) / (positives * negatives)
    )


def _pr_auc(y: np.ndarray, s: np.ndarray) -> float:
    return float(average_precision_score(y, s)) if np.unique(y).size == 2 else float("nan")


Metric = Callable[[np.ndarray, np.ndarray], float]
METRICS: dict[str, tuple[Metric, bool]] = {  # name -> (metric, higher is better)
    "roc_auc": (_auc, True),
    "pr_auc": (_pr_auc, True),
    "log_loss": (
        lambda y, s: float(log_loss(y, np.clip(s, 1e-15, 1 - 1e-15), labels=[0, 1])),
        False,
    ),
    "brier": (lambda y, s: float(brier_score_loss(y, s)), False),
    "rmse": (lambda y, s: float(np.sqrt(np.mean((s - y) ** 2))), False),
    "mae": (lambda y, s: float(np.mean(np.abs(s - y))), False),
}


def metric(name: str) -> tuple[Metric, bool]:
    """A metric by name and whether higher is better; an unknown name lists the known."""
    if name not in METRICS:
        raise ValueError(f"Unknown metric {name!r}; use one of {sorted(METRICS)}.")
    return METRICS[name]
