"""Performance before labels arrive: confidence-based estimation (CBPE, as NannyML does it).

A classifier's calibrated probability is the chance its row is positive, so over a window
the expected confusion matrix, and from it accuracy, F1 and ROC AUC, follow from the
scores alone. It holds while the score stays calibrated (covariate shift: inputs move,
P(y | x) does not); a changed relationship between inputs and label is what it cannot
see, which is why the realized figure is reported beside it once labels come.

The scores are first mapped through an isotonic calibration fitted on held-out labelled
rows at registration (`fit_estimator`), since a served score need not be calibrated.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from prodml.train.calibration import apply, fit_isotonic

ESTIMATED = ("roc_auc", "accuracy", "f1")


def fit_estimator(score: ArrayLike, y: ArrayLike) -> dict[str, Any]:
    """The score-to-probability map CBPE needs, from held-out rows with known labels."""
    s, t = np.asarray(score, dtype=float), np.asarray(y, dtype=float)
    if s.size == 0 or np.unique(t).size < 2:
        raise ValueError(
            "CBPE needs held-out rows of both classes to calibrate on; got "
            f"{s.size} rows with labels {sorted(set(t.tolist()))}."
        )
    return fit_isotonic(s, t)


def excess_error(estimator: dict[str, Any], score: ArrayLike, y: ArrayLike) -> np.ndarray:
    """Each row's error beyond what its calibrated probability p expects: |y − p| less
    2p(1 − p). Inputs moving to where the model is less sure do not raise it; the truth
    departing from the probabilities does (concept drift)."""
    p = apply(estimator, np.asarray(score, dtype=float))
    return np.abs(np.asarray(y, dtype=float) - p) - 2 * p * (1 - p)


def held_out_errors(score: ArrayLike, y: ArrayLike, *, seed: int = 0) -> np.ndarray:
    """The excess errors of labelled rows, each measured with a calibration fitted on the
    other half of them (cross-fitted): measured on the rows it was fitted on, an isotonic
    map looks better than it is, and concept drift judged against that would fire on
    fresh traffic with nothing changed."""
    s, t = np.asarray(score, dtype=float), np.asarray(y, dtype=float)
    half = np.random.default_rng(seed).permutation(s.size) < s.size // 2
    out = np.empty(s.size)
    for fit, measure in ((half, ~half), (~half, half)):
        out[measure] = excess_error(fit_estimator(s[fit], t[fit]), s[measure], t[measure])
    return out


def estimate(estimator: dict[str, Any], score: ArrayLike, predicted: ArrayLike) -> dict[str, float]:
    """Expected ROC AUC, accuracy and F1 of a window, from its scores and the labels the
    model predicted (its threshold decision), with no ground truth."""
    p = apply(estimator, np.asarray(score, dtype=float))
    decided = np.asarray(predicted).astype(bool)
    if p.size == 0:
        return dict.fromkeys(ESTIMATED, float("nan"))
    tp = float(p[decided].sum())
    fp = float((1 - p[decided]).sum())
    fn = float(p[~decided].sum())
    tn = float((1 - p[~decided]).sum())
    return {
        "roc_auc": expected_roc_auc(np.asarray(score, dtype=float), p),
        "accuracy": (tp + tn) / p.size,
        "f1": 2 * tp / (2 * tp + fp + fn) if tp + fp + fn > 0 else float("nan"),
    }


def expected_roc_auc(score: np.ndarray, p: np.ndarray) -> float:
    """The ROC curve the labels would draw if each row were positive with probability `p`:
    at each threshold on `score`, expected TPR = Σp / Σp over all, FPR likewise with 1−p;
    rows with equal scores move the curve together (a diagonal segment, ties as half)."""
    positives, negatives = p.sum(), (1 - p).sum()
    if positives <= 0 or negatives <= 0:
        return float("nan")
    order = np.argsort(-score, kind="stable")
    s, q = score[order], p[order]
    last_of_tie = np.r_[s[1:] != s[:-1], True]
    tpr = np.r_[0.0, np.cumsum(q)[last_of_tie] / positives]
    fpr = np.r_[0.0, np.cumsum(1 - q)[last_of_tie] / negatives]
    return float(np.trapezoid(tpr, fpr))
