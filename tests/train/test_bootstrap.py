"""Bootstrap intervals: a resample's metric from counts per row equals the metric of the
resampled rows, for every metric that is computed that way."""

import numpy as np
import pytest

from prodml.train.bootstrap import bootstrap_interval
from prodml.train.evaluate import METRICS


@pytest.mark.parametrize("name", ["roc_auc", "pr_auc", "brier", "log_loss", "mae", "rmse"])
def test_the_interval_is_the_metrics_own_over_resampled_rows(name):
    rng = np.random.default_rng(1)
    y = (rng.random(2000) < 0.3).astype(float)
    score = np.round(np.clip(rng.random(2000) * 0.5 + y * 0.3, 0, 1), 2)  # ties included
    metric = METRICS[name][0]
    rows = np.random.default_rng(7)
    by_rows = [metric(y[i], score[i]) for i in (rows.integers(0, 2000, 2000) for _ in range(50))]
    expected = np.percentile(by_rows, [2.5, 97.5])
    assert bootstrap_interval(metric, y, score, resamples=50, seed=7) == pytest.approx(expected)
