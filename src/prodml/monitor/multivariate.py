"""Multivariate drift: can a classifier tell the window's rows from the reference's?

Per-feature tests miss a change in how features go together (each marginal unchanged,
their relation moved). A domain classifier sees it: LightGBM is trained to separate
reference rows from window rows, and its cross-validated ROC AUC says how separable they
are (0.5: indistinguishable). The features it split on most (gain) are the ones that
drive the drift.
"""

from __future__ import annotations

from dataclasses import dataclass

import lightgbm as lgb
import numpy as np
import pandas as pd

from prodml.monitor.reference import NUMERIC, Reference
from prodml.train.evaluate import METRICS

AUC_THRESHOLD = 0.55  # a domain AUC above this counts as drift
MAX_ROWS = 10_000  # rows drawn from each side: enough to see a shift, cheap to fit
_PARAMS = {
    "objective": "binary",
    "num_leaves": 15,
    "learning_rate": 0.1,
    "min_data_in_leaf": 50,
    "num_threads": 1,
    "verbose": -1,
    "seed": 0,
    "deterministic": True,
}


@dataclass(frozen=True)
class MultivariateDrift:
    auc: float  # cross-validated, of reference against window
    drifted: bool
    drivers: list[tuple[str, float]]  # features by share of the classifier's gain, largest first


def domain_classifier(
    reference: Reference,
    window: pd.DataFrame,
    features: list[str] | None = None,
    *,
    threshold: float = AUC_THRESHOLD,
    folds: int = 2,
    rounds: int = 60,
    seed: int = 0,
) -> MultivariateDrift | None:
    """How separable the window is from the reference sample (None without a sample, or
    with too few rows on either side to say)."""
    if reference.sample is None:
        return None
    wanted = list(reference.sample.columns) if features is None else features
    names = [f for f in wanted if f in window and f in reference.columns]
    rng = np.random.default_rng(seed)
    before = _draw(reference.sample[names], rng)
    after = _draw(window[names], rng)
    if min(len(before), len(after)) < 100 or not names:
        return None
    rows = pd.concat([before, after], ignore_index=True)
    for name in names:  # one encoding for both sides: numbers as floats, the rest as categories
        if reference.columns[name].kind == NUMERIC:
            rows[name] = pd.to_numeric(rows[name], errors="coerce").astype(float)
        else:
            rows[name] = rows[name].astype("string").astype("category")
    y = np.r_[np.zeros(len(before)), np.ones(len(after))]
    fold = rng.permutation(len(rows)) % folds
    score = np.empty(len(rows))
    gain = np.zeros(len(names))
    for k in range(folds):
        train, test = fold != k, fold == k
        model = lgb.train(_PARAMS, lgb.Dataset(rows[train], y[train]), num_boost_round=rounds)
        score[test] = model.predict(rows[test])
        gain += model.feature_importance("gain")
    auc_metric, _ = METRICS["roc_auc"]
    auc = auc_metric(y, score)
    share = gain / gain.sum() if gain.sum() > 0 else gain
    drivers = sorted(zip(names, share.tolist(), strict=True), key=lambda d: -d[1])
    return MultivariateDrift(auc, auc > threshold, [d for d in drivers if d[1] > 0])


def _draw(frame: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    if len(frame) <= MAX_ROWS:
        return frame.reset_index(drop=True)
    return frame.iloc[np.sort(rng.choice(len(frame), MAX_ROWS, replace=False))].reset_index(
        drop=True
    )
