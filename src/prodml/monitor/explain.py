"""Explanations over time: how much each feature moves the model's scores (the mean
absolute TreeSHAP contribution, as shares of their total) at registration and in each
window, and how far a window's shares moved from registration's: the total variation
between the two (half the sum of absolute differences; 0 the same, 1 disjoint). A model
that starts leaning on other features shows here even while each feature's own
distribution looks unchanged.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, cast

import numpy as np
import pandas as pd

from prodml.train.flavors import Explains
from prodml.train.model import TrainedModel

SAMPLE = 1000  # rows explained per window (and at registration)
Explainer = Callable[[pd.DataFrame], dict[str, float]]


def explainer(model: TrainedModel, *, seed: int = 0) -> Explainer | None:
    """The importance shares of `model` on rows of its features (a sample of `SAMPLE`),
    or None for a flavor that cannot explain."""
    if not isinstance(model.implementation, Explains):
        return None
    names = list(model.spec.names)

    def shares(rows: pd.DataFrame) -> dict[str, float]:
        picked = rows.sample(min(SAMPLE, len(rows)), random_state=seed)
        frame = picked.reindex(columns=names).astype(object)
        records = cast("list[dict[str, Any]]", frame.where(frame.notna(), None).to_dict("records"))
        magnitude = np.abs(model.contributions(records)[:, :-1]).mean(axis=0)
        total = float(magnitude.sum())
        return {
            n: float(m / total) if total else 0.0 for n, m in zip(names, magnitude, strict=True)
        }

    return shares


def importance_shift(now: Mapping[str, float], then: Mapping[str, float]) -> float:
    """The total variation between two sets of importance shares."""
    names: Sequence[str] = sorted({*now, *then})
    return 0.5 * float(sum(abs(now.get(n, 0.0) - then.get(n, 0.0)) for n in names))
