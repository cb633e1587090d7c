"""Metrics of a binary classifier's scores against realized labels."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    brier_score_loss,
    f1_score,
    log_loss,
    roc_auc_score,
)


def classification_metrics(
    y_true: np.ndarray, score: np.ndarray, *, threshold: float = 0.5
) -> dict[str, float]:
    """ROC AUC, PR AUC, log loss, Brier score, and accuracy and F1 at `threshold`.

    AUCs are NaN when only one class is present (they are undefined, not zero).
    """
    y_true = np.asarray(y_true).astype(int)
    score = np.clip(np.asarray(score, dtype=float), 1e-15, 1 - 1e-15)
    both = np.unique(y_true).size == 2
    predicted = (score >= threshold).astype(int)
    return {
        "roc_auc": float(roc_auc_score(y_true, score)) if both else float("nan"),
        "pr_auc": float(average_precision_score(y_true, score)) if both else float("nan"),
        "log_loss": float(log_loss(y_true, score, labels=[0, 1])),
        "brier": float(brier_score_loss(y_true, score)),
        "accuracy": float(accuracy_score(y_true, predicted)),
        "f1": float(f1_score(y_true, predicted, zero_division=0)),
    }
