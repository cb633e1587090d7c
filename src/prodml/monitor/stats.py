"""Two-sample drift statistics, computed as SciPy computes them, from a reference kept ready.

Numeric tests take the reference's values already sorted (sorted once, when the reference
profile is built), so a window costs one sort of its own values: the Kolmogorov–Smirnov
statistic and the Wasserstein distance follow SciPy's definitions (`scipy.stats.ks_2samp`,
`scipy.stats.wasserstein_distance`) step for step and agree with them to rounding.
Categorical tests take counts per category. The tests return (statistic, p-value), the
distances a statistic; the caller decides what "drifted" means (see `compare.py`).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from scipy import stats
from scipy.spatial import distance

from prodml.data.profile import psi  # the data layer's PSI, floored empty bins alike

_EXACT_KS_MAX = 10_000  # SciPy's own limit for the exact KS p-value under method="auto"


def ks(reference_sorted: np.ndarray, current: np.ndarray) -> tuple[float, float]:
    """Two-sided two-sample Kolmogorov–Smirnov statistic and p-value, as `ks_2samp`."""
    current_sorted = np.sort(current)
    n, m = reference_sorted.size, current_sorted.size
    if max(n, m) <= _EXACT_KS_MAX:  # small samples: SciPy's exact p-value, as it would
        result = stats.ks_2samp(reference_sorted, current_sorted)
        return float(result.statistic), float(result.pvalue)
    both = np.concatenate([reference_sorted, current_sorted])
    cdf_reference = np.searchsorted(reference_sorted, both, side="right") / n
    cdf_current = np.searchsorted(current_sorted, both, side="right") / m
    statistic = float(np.max(np.abs(cdf_reference - cdf_current)))
    # SciPy's asymptotic branch: the KS distribution of the effective sample size.
    effective = np.round(n * m / (n + m))
    return statistic, float(np.clip(stats.kstwo.sf(statistic, effective), 0.0, 1.0))


def wasserstein(reference_sorted: np.ndarray, current: np.ndarray) -> float:
    """The first Wasserstein distance of the two empirical distributions, computed as
    `scipy.stats.wasserstein_distance` does (the area between the two CDFs)."""
    current_sorted = np.sort(current)
    # Both inputs are sorted runs: a stable sort merges them in linear time.
    both = np.sort(np.concatenate([reference_sorted, current_sorted]), kind="stable")
    deltas = np.diff(both)
    cdf_reference = np.searchsorted(reference_sorted, both[:-1], side="right")
    cdf_current = np.searchsorted(current_sorted, both[:-1], side="right")
    gap = np.abs(cdf_reference / reference_sorted.size - cdf_current / current_sorted.size)
    return float(np.dot(gap, deltas))  # as SciPy sums it


def normed_wasserstein(
    reference_sorted: np.ndarray, current: np.ndarray, reference_std: float
) -> float:
    """Wasserstein distance in units of the reference's standard deviation (floored at
    0.001, as Evidently does), so one threshold fits every feature's scale."""
    return wasserstein(reference_sorted, current) / max(reference_std, 0.001)


def normed_wasserstein_draws(
    reference_sorted: np.ndarray, draws: np.ndarray, reference_std: float, *, chunk: int = 200
) -> np.ndarray:
    """`normed_wasserstein` of each row of `draws` (equal-sized samples) at once: the
    distance is the area between the two quantile functions, and both are constant
    between the breakpoints i/m and j/N, so it is one weighted sum per draw."""
    m, n = draws.shape[1], reference_sorted.size
    # Breakpoints as whole multiples of 1/(m n), so every index below is exact.
    ticks = np.union1d(np.arange(1, m + 1) * n, np.arange(1, n + 1) * m)
    width = np.diff(ticks, prepend=0) / (m * n)
    mine = -(-ticks // n) - 1  # the draw's order statistic on each piece
    theirs = reference_sorted[-(-ticks // m) - 1]
    out = np.empty(draws.shape[0])
    for start in range(0, draws.shape[0], chunk):
        ordered = np.sort(draws[start : start + chunk], axis=1)
        out[start : start + chunk] = np.abs(ordered[:, mine] - theirs) @ width
    return out / max(reference_std, 0.001)


def shares(
    reference: Mapping[str, int], current: Mapping[str, int]
) -> tuple[list[str], np.ndarray, np.ndarray]:
    """The categories seen on either side and each side's share of its rows in each."""
    keys = list(dict.fromkeys([*reference, *current]))
    ref = np.array([reference.get(k, 0) for k in keys], dtype=float)
    cur = np.array([current.get(k, 0) for k in keys], dtype=float)
    return keys, ref / max(ref.sum(), 1.0), cur / max(cur.sum(), 1.0)


def jensen_shannon(reference: Mapping[str, int], current: Mapping[str, int]) -> float:
    """Jensen–Shannon distance (natural log) of the two category distributions."""
    _, ref, cur = shares(reference, current)
    return float(distance.jensenshannon(ref, cur))


def chi_square(reference: Mapping[str, int], current: Mapping[str, int]) -> tuple[float, float]:
    """Pearson's chi-square of the current counts against the counts the reference's shares
    predict, and its p-value (`scipy.stats.chisquare`). A category the reference never saw
    gets a tiny expected share rather than an infinite statistic."""
    keys, ref, _ = shares(reference, current)
    observed = np.array([current.get(k, 0) for k in keys], dtype=float)
    expected = np.where(ref > 0, ref, 1e-6)
    expected = expected / expected.sum() * observed.sum()
    result = stats.chisquare(observed, expected)
    return float(result.statistic), float(result.pvalue)


__all__ = [
    "chi_square",
    "jensen_shannon",
    "ks",
    "normed_wasserstein",
    "psi",
    "shares",
    "wasserstein",
]
