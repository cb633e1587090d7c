"""Split-conformal uncertainty: a prediction set (classification) or interval (regression)
that holds the true answer at a chosen coverage, on rows like the calibration rows.

At training, the nonconformity scores of validation rows the model never saw are reduced to
their conformal quantile at every coverage from 50 % to 99 %; those numbers go into the
model's JSON. Serving then needs no data: for classification the set holds every class whose
probability is at least ``1 - q``; for regression the interval is ``prediction ± q``.
The guarantee is marginal (over rows, not per row) and assumes the served rows are
exchangeable with the calibration rows — drift breaks it, which monitoring watches.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from prodml.errors import ConfigError
from prodml.train.model import CLASSIFICATION

LEVELS = tuple(round(0.50 + i / 100, 2) for i in range(50))  # 0.50, 0.51, …, 0.99


def fit(score: ArrayLike, y: ArrayLike, task: str) -> dict[str, Any]:
    """The conformal quantile of the nonconformity of (`score`, `y`) at every level.

    `score` is the probability of the positive class (classification) or the prediction
    (regression), computed by a model that was not fitted on these rows.
    """
    s, t = np.asarray(score, dtype=float), np.asarray(y, dtype=float)
    # Classification: 1 - the probability of the true class; regression: the residual.
    errors = np.where(t == 1, 1.0 - s, s) if task == CLASSIFICATION else np.abs(t - s)
    errors = np.sort(errors[np.isfinite(errors)])
    n = errors.size
    quantiles = {}
    for level in LEVELS:
        # The finite-sample correction: the ceil((n + 1) * level)-th smallest error.
        rank = math.ceil((n + 1) * level)
        # Too few rows for this level: no finite bound (None in JSON, infinity when used).
        quantiles[f"{level:.2f}"] = float(errors[rank - 1]) if rank <= n else None
    return {"method": "split", "task": task, "rows": n, "quantiles": quantiles}


def quantile(conformal: dict[str, Any], coverage: float) -> float:
    """The stored quantile for `coverage`; a clear error for a level that was not stored."""
    key = f"{coverage:.2f}"
    if abs(float(key) - coverage) > 1e-9 or key not in conformal["quantiles"]:
        raise ConfigError(
            f"coverage {coverage} is not available: choose a level between 0.50 and 0.99 in "
            "steps of 0.01 (serving.coverage)."
        )
    found = conformal["quantiles"][key]
    return math.inf if found is None else float(found)


def membership(probability: Any, q: float) -> tuple[Any, Any]:
    """Whether class 0 and class 1 are in the set: each class whose probability is at
    least 1 - q. Scalars or numpy arrays of probabilities alike."""
    return probability <= q, 1.0 - probability <= q


def prediction_set(probability: float, q: float) -> list[int]:
    """The classes (0, 1) in the set of one probability."""
    return [c for c, member in enumerate(membership(probability, q)) if member]


def interval(value: Any, q: float) -> tuple[Any, Any]:
    """The interval around a prediction (or a numpy array of them)."""
    return value - q, value + q
