import math

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from prodml.train import classification_metrics


def test_metrics_agree_with_scikit_learn(rng):
    y = rng.integers(0, 2, 1000)
    score = np.clip(y * 0.3 + rng.random(1000) * 0.7, 0, 1)
    metrics = classification_metrics(y, score)
    assert metrics["roc_auc"] == pytest.approx(roc_auc_score(y, score))
    assert set(metrics) == {"roc_auc", "pr_auc", "log_loss", "brier", "accuracy", "f1"}


def test_auc_is_undefined_not_zero_with_one_class():
    metrics = classification_metrics(np.zeros(10), np.full(10, 0.2))
    assert math.isnan(metrics["roc_auc"])
    assert math.isnan(metrics["pr_auc"])
    assert metrics["accuracy"] == 1.0
