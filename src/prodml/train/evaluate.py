"""Metrics of a binary classifier's scores against realized labels."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike
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
