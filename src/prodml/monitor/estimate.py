"""Performance before labels arrive: confidence-based estimation (CBPE, as NannyML does it).

A classifier's calibrated probability is the chance its row is positive, so over a window
the expected confusion matrix, and from it accuracy, F1 and ROC AUC, follow from the
scores alone. It holds while the score stays calibrated (covariate shift: inputs move,
P(y | x) does not); a changed relationship between inputs and label is what it cannot
see, which is why the realized figure is reported beside it once labels come.

The scores are first mapped through an isotonic calibration (`calibrate`) fitted at
registration on labelled rows the model never used in any way: a map fitted on the rows
that chose, calibrated or stopped the model finds it better than it is. Each figure comes
with the range the window's realized figure should fall in (`<metric>.low`, `.high`):
labels drawn from the probabilities (the window's own luck), each draw through one of the
map's bootstrap refits (the calibration's luck), widened by how far realized figures
strayed beyond both on held-out windows at registration (`measured_error`: periods differ
in what follows from a score, which scores alone cannot show). That measured error goes
into the model card.
"""

from __future__ import annotations

from statistics import NormalDist
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from scipy.stats import rankdata

from prodml.train.calibration import apply, fit_isotonic

ESTIMATED = ("roc_auc", "accuracy", "f1")
LEVEL = 0.95  # of the interval around each estimate
DRAWS = 400  # label draws per window: the 2.5 % and 97.5 % points to about ±0.1 std
MAPS = 20  # bootstrap refits of the calibration the draws share
WINDOWS = 10  # held-out windows the estimator's own error is measured on
MIN_WINDOW_ROWS = 200  # fewer rows per window: an error measured on noise, not stored
_CHUNK = 1 << 22  # label draws held in memory at once (values)
# Label values drawn per window at most: a window of millions of rows gets fewer draws (at
# least two per refit), its own luck being small beside the calibration's.
_WORK = 40_000_000


def fit_estimator(score: ArrayLike, y: ArrayLike) -> dict[str, Any]:
    """The score-to-probability map CBPE needs, from held-out rows with known labels."""
    s, t = np.asarray(score, dtype=float), np.asarray(y, dtype=float)
    if s.size == 0 or np.unique(t).size < 2:
        raise ValueError(
            "CBPE needs held-out rows of both classes to calibrate on; got "
            f"{s.size} rows with labels {sorted(set(t.tolist()))}."
        )
    return fit_isotonic(s, t)


def calibrate(
    score: ArrayLike, y: ArrayLike, *, maps: int = MAPS, measure: bool = True, seed: int = 0
) -> dict[str, Any]:
    """CBPE's estimator from labelled rows the model never used: the map (`x`, `y`), `maps`
    refits of it on rows resampled with replacement (their values at `x`, for the
    interval), and, with `measure`, its error on held-out windows of the rows, which
    must be in time order (see `measured_error`)."""
    s, t = np.asarray(score, dtype=float), np.asarray(y, dtype=float)
    estimator: dict[str, Any] = {**fit_estimator(s, t), "rows": int(s.size)}
    rng = np.random.default_rng(seed)
    refits = []
    for _ in range(maps):
        take = rng.integers(0, s.size, s.size)
        if np.unique(t[take]).size < 2:  # a resample of one class calibrates nothing
            continue
        refit = fit_isotonic(s[take], t[take])
        refits.append(np.round(np.interp(estimator["x"], refit["x"], refit["y"]), 6).tolist())
    estimator["maps"] = refits
    if measure:
        error = measured_error(s, t, maps=maps, seed=seed)
        if error is not None:
            estimator["error"] = error
    return estimator


def measured_error(
    score: ArrayLike,
    y: ArrayLike,
    *,
    windows: int = WINDOWS,
    maps: int = MAPS,
    seed: int = 0,
) -> dict[str, Any] | None:
    """How far the estimate fell from the realized figure on labelled rows: cut into
    `windows` consecutive windows (the rows in time order), each estimated with an
    estimator fitted on the other windows, as a live window would be. Per metric: mean
    absolute error, mean signed error (bias), `spread`, the standard deviation of the
    errors beyond what chance and calibration explain (what `estimate` widens its range
    by), and the share of windows whose widened range held the realized figure (each
    widened by the spread of the other windows, so none is judged by its own error).
    None when there are too few rows for windows of `MIN_WINDOW_ROWS`."""
    s, t = np.asarray(score, dtype=float), np.asarray(y, dtype=float)
    count = min(windows, s.size // MIN_WINDOW_ROWS)
    if count < 3:
        return None
    parts = np.array_split(np.arange(s.size), count)
    found: dict[str, list[tuple[float, float, float, float]]] = {m: [] for m in ESTIMATED}
    for i, part in enumerate(parts):
        rest = np.concatenate([p for j, p in enumerate(parts) if j != i])
        if np.unique(t[rest]).size < 2 or np.unique(t[part]).size < 2:
            continue
        fitted = calibrate(s[rest], t[rest], maps=maps, measure=False, seed=seed + i + 1)
        decided = s[part] >= 0.5  # as served
        said = estimate(fitted, s[part], decided, seed=seed + i)
        for metric, value in realized_metrics(t[part], s[part], decided).items():
            found[metric].append(
                (said[metric], value, said[f"{metric}.low"], said[f"{metric}.high"])
            )
    out: dict[str, Any] = {
        "rows": int(s.size),
        "windows": len(found["roc_auc"]),
        "window_rows": int(np.median([p.size for p in parts])),
        "level": LEVEL,
    }
    z = NormalDist().inv_cdf((1 + LEVEL) / 2)
    for metric, rows in found.items():
        kept = np.array([r for r in rows if np.all(np.isfinite(r))]).reshape(-1, 4)
        if len(kept) < 2:
            continue
        guess, realized, low, high = kept.T
        error = guess - realized
        # Squared error less the variance the range already allows (its half-width in
        # standard deviations): what is left is the periods' own difference.
        excess = error**2 - ((high - low) / (2 * z)) ** 2
        others = (excess.sum() - excess) / (excess.size - 1)
        low, high = _widened(guess, low, high, np.sqrt(np.maximum(others, 0.0)), LEVEL)
        out[metric] = {
            "mae": float(np.abs(error).mean()),
            "bias": float(error.mean()),
            "spread": float(np.sqrt(max(excess.mean(), 0.0))),
            "coverage": float(np.mean((low <= realized) & (realized <= high))),
        }
    return out if out["windows"] else None


def _widened(value: Any, low: Any, high: Any, spread: Any, level: float) -> tuple[Any, Any]:
    """A range widened by an independent error of standard deviation `spread`: each side's
    distance from `value` added in quadrature to that error's at `level`."""
    extra = (NormalDist().inv_cdf((1 + level) / 2) * spread) ** 2
    return value - np.sqrt((value - low) ** 2 + extra), value + np.sqrt((high - value) ** 2 + extra)


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


def estimate(
    estimator: dict[str, Any],
    score: ArrayLike,
    predicted: ArrayLike,
    *,
    draws: int = DRAWS,
    level: float = LEVEL,
    seed: int = 0,
) -> dict[str, float]:
    """Expected ROC AUC, accuracy and F1 of a window, from its scores and the labels the
    model predicted (its threshold decision), with no ground truth; each with `.low` and
    `.high`, the range (at `level`) its realized value should fall in: the window's luck
    and the calibration's, widened by the spread measured at registration, if any."""
    s = np.asarray(score, dtype=float)
    decided = np.asarray(predicted).astype(bool)
    if s.size == 0:
        return dict.fromkeys(
            [f"{m}{suffix}" for m in ESTIMATED for suffix in ("", ".low", ".high")], float("nan")
        )
    # No figure depends on the rows' order: sorted once, every later pass reads in order
    # (interpolating a million unsorted scores costs ten times as much).
    order = np.argsort(s, kind="stable")
    s, decided = s[order], decided[order]
    p = apply(estimator, s)
    tp = float(p[decided].sum())
    fp = float((1 - p[decided]).sum())
    fn = float(p[~decided].sum())
    tn = float((1 - p[~decided]).sum())
    point = {
        "roc_auc": _expected_auc_sorted(s, p),
        "accuracy": (tp + tn) / p.size,
        "f1": 2 * tp / (2 * tp + fp + fn) if tp + fp + fn > 0 else float("nan"),
    }
    drawn = _drawn(estimator, s, decided, draws, seed)
    measured = estimator.get("error") or {}
    out = dict(point)
    for metric, value in point.items():
        values = drawn[metric][np.isfinite(drawn[metric])]
        low = high = float("nan")
        if values.size and np.isfinite(value):
            # The draws' spread around their own centre, placed around the estimate.
            luck = np.quantile(values - values.mean(), [(1 - level) / 2, (1 + level) / 2])
            spread = measured.get(metric, {}).get("spread", 0.0)
            low, high = _widened(value, value + luck[0], value + luck[1], spread, level)
        out[f"{metric}.low"], out[f"{metric}.high"] = float(low), float(high)
    return out


def _drawn(
    estimator: dict[str, Any], s: np.ndarray, decided: np.ndarray, draws: int, seed: int
) -> dict[str, np.ndarray]:
    """Each metric as `draws` windows of labels drawn from the probabilities would realize
    it, the draws shared among the calibration's bootstrap refits; `s` sorted. Ranks are
    computed once: a draw's AUC is then its positives' rank sum, one pass over the rows."""
    n = s.size
    x = np.asarray(estimator["x"], dtype=float)
    refits = estimator.get("maps") or [estimator["y"]]  # older references: the map alone
    draws = min(draws, max(2 * len(refits), _WORK // max(n, 1)))
    per_map = max(1, -(-draws // len(refits)))
    step = max(1, _CHUNK // max(n, 1))
    # One row per sum a draw needs (its positives, their ranks, those decided positive),
    # laid out so one matrix product gives every draw's sums.
    columns = np.vstack([np.ones(n), _sorted_ranks(s), decided.astype(float)])
    rng = np.random.default_rng(seed)
    sums = []
    for values in refits:
        # Labels as 16-bit uniforms below the probability: under half the cost of floats.
        below = np.round(np.interp(s, x, np.asarray(values, dtype=float)) * 65536)
        threshold = np.minimum(below, 65535).astype(np.uint16)
        for start in range(0, per_map, step):
            shape = (min(per_map - start, step), n)
            labels = rng.integers(0, 65536, shape, dtype=np.uint16) < threshold
            sums.append((columns @ labels.T.astype(np.float64)).T)
    positives, rank_sum, hits = np.concatenate(sums).T
    negatives = n - positives
    chosen = float(decided.sum())
    with np.errstate(invalid="ignore", divide="ignore"):
        return {
            "roc_auc": (rank_sum - positives * (positives + 1) / 2) / (positives * negatives),
            "accuracy": (2 * hits - positives + n - chosen) / n,
            "f1": 2 * hits / (chosen + positives),
        }


def realized_metrics(y: np.ndarray, score: np.ndarray, decided: np.ndarray) -> dict[str, float]:
    """ROC AUC (ties half), accuracy and F1 of labelled rows, as `estimate` states them."""
    n, positives = y.size, float(y.sum())
    hits, chosen = float(y[decided].sum()), float(decided.sum())
    auc = (
        (float(rankdata(score)[y == 1].sum()) - positives * (positives + 1) / 2)
        / (positives * (n - positives))
        if 0 < positives < n
        else float("nan")
    )
    return {
        "roc_auc": auc,
        "accuracy": (2 * hits - positives + n - chosen) / n,
        "f1": 2 * hits / (chosen + positives) if chosen + positives else float("nan"),
    }


def _sorted_ranks(s: np.ndarray) -> np.ndarray:
    """The ranks (from 1) of ascending values `s`, tied values sharing their mean rank."""
    first = np.flatnonzero(np.r_[True, s[1:] != s[:-1]])
    counts = np.diff(np.r_[first, s.size])
    return np.repeat(first + (counts + 1) / 2, counts)


def expected_roc_auc(score: np.ndarray, p: np.ndarray) -> float:
    """The ROC curve the labels would draw if each row were positive with probability `p`:
    at each threshold on `score`, expected TPR = Σp / Σp over all, FPR likewise with 1−p;
    rows with equal scores move the curve together (a diagonal segment, ties as half)."""
    order = np.argsort(score, kind="stable")
    return _expected_auc_sorted(score[order], p[order])


def _expected_auc_sorted(score: np.ndarray, p: np.ndarray) -> float:
    """`expected_roc_auc` of rows already in ascending order of score."""
    positives, negatives = p.sum(), (1 - p).sum()
    if positives <= 0 or negatives <= 0:
        return float("nan")
    s, q = score[::-1], p[::-1]  # from the highest score down
    last_of_tie = np.r_[s[1:] != s[:-1], True]
    tpr = np.r_[0.0, np.cumsum(q)[last_of_tie] / positives]
    fpr = np.r_[0.0, np.cumsum(1 - q)[last_of_tie] / negatives]
    return float(np.trapezoid(tpr, fpr))
