"""Calibration applied only when it helps: an isotonic map from score to observed rate,
judged on validation rows it was not fitted on (time-ordered blocks, cross-fitted), and
kept only if it lowers the Brier score by a clear margin.

The map is a list of points (`x`, `y`) applied with linear interpolation: plain numbers
in the model's JSON, the same at training, in batch and at serving.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from sklearn.isotonic import IsotonicRegression


def fit_isotonic(score: ArrayLike, y: ArrayLike) -> dict[str, list[float]]:
    """The isotonic map of `score` to the rate of `y`, as interpolation points."""
    iso = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0)
    iso.fit(np.asarray(score, dtype=float), np.asarray(y, dtype=float))
    return {"x": iso.X_thresholds_.tolist(), "y": iso.y_thresholds_.tolist()}


def apply(calibration: dict[str, Any] | None, score: np.ndarray) -> np.ndarray:
    """Scores through the map (unchanged without one)."""
    if not calibration:
        return score
    return np.interp(score, calibration["x"], calibration["y"])


def cross_fitted(score: ArrayLike, y: ArrayLike, *, blocks: int = 5) -> np.ndarray:
    """Each time-ordered block's scores through a map fitted on the other blocks: calibrated
    scores of rows no map saw, for judging calibration and for conformal quantiles."""
    s, t = np.asarray(score, dtype=float), np.asarray(y, dtype=float)
    held_out = np.empty_like(s)
    for part in np.array_split(np.arange(s.size), blocks):
        rest = np.setdiff1d(np.arange(s.size), part, assume_unique=True)
        held_out[part] = apply(fit_isotonic(s[rest], t[rest]), s[part])
    return held_out


def decide(
    score: ArrayLike, y: ArrayLike, *, blocks: int = 5, min_gain: float = 0.01
) -> dict[str, Any]:
    """Whether to calibrate: fit on all but one time-ordered block, score that block, for
    every block; apply the map (fitted on all rows) only if those held-out Brier scores beat
    the raw ones by `min_gain` (relative). Rows must be in time order."""
    s, t = np.asarray(score, dtype=float), np.asarray(y, dtype=float)
    held_out = cross_fitted(s, t, blocks=blocks)
    raw, calibrated = float(np.mean((s - t) ** 2)), float(np.mean((held_out - t) ** 2))
    helps = calibrated < raw * (1 - min_gain)
    return {
        "method": "isotonic" if helps else None,
        "brier_raw": raw,
        "brier_calibrated_held_out": calibrated,
        "map": fit_isotonic(s, t) if helps else None,
    }
