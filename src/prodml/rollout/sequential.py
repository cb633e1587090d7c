"""The sequential test every rollout check decides with, so looking at each interval does
not raise the chance of a false alarm above α however often one looks.

It is the mixture sequential probability ratio test (mSPRT) of Johari, Koomen, Pekelis and
Walsh ("Always valid inference", 2017; Optimizely's stats engine): for an estimate θ̂ of
a difference with variance v (by the central limit theorem, θ̂ ~ N(θ, v)), the likelihood
ratio of θ ~ N(θ₀, τ²) against θ = θ₀ is

    Λ(θ₀) = √(v / (v + τ²)) · exp(τ² (θ̂ − θ₀)² / (2 v (v + τ²))),

a martingale under θ = θ₀, so by Ville's inequality it passes 1/α at any look with
probability at most α. The θ₀ it has not passed form a confidence sequence: an interval
valid at every look at once. A check fires when that interval lies wholly beyond the
check's margin (the candidate is worse by more than can be tolerated), which happens
with probability at most α when it is not.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike


@dataclass(frozen=True)
class Difference:
    """The candidate's figure minus the stable's, with the confidence sequence at α
    (`low`, `high`), the always-valid p-value of "no worse than `margin`", and the rows
    each side rests on."""

    candidate: float
    stable: float
    difference: float
    low: float
    high: float
    p_value: float
    margin: float
    n_candidate: int
    n_stable: int

    @property
    def worse(self) -> bool:
        """The candidate is worse than the stable by more than the margin, at α."""
        return self.low > self.margin

    def figures(self) -> dict[str, float]:
        return {
            "candidate": self.candidate,
            "stable": self.stable,
            "difference": self.difference,
            "low": self.low,
            "high": self.high,
            "p_value": self.p_value,
            "margin": self.margin,
            "n_candidate": self.n_candidate,
            "n_stable": self.n_stable,
        }


def likelihood_ratio(estimate: float, variance: float, null: float, tau: float) -> float:
    """Λ(null) of the module docstring; 1 when the variance is unknown."""
    if not (variance > 0 and math.isfinite(variance) and math.isfinite(estimate)):
        return 1.0
    spread = variance + tau * tau
    exponent = tau * tau * (estimate - null) ** 2 / (2 * variance * spread)
    return math.sqrt(variance / spread) * math.exp(min(exponent, 700.0))


def half_width(variance: float, tau: float, alpha: float) -> float:
    """How far from θ̂ the confidence sequence reaches: where Λ(θ₀) = 1/α."""
    if not (variance > 0 and math.isfinite(variance)):
        return math.inf
    spread = variance + tau * tau
    return math.sqrt(
        variance * spread / (tau * tau) * (2 * math.log(1 / alpha) + math.log(spread / variance))
    )


def difference(
    candidate: float,
    stable: float,
    variance: float,
    *,
    margin: float,
    tau: float,
    alpha: float,
    n_candidate: int,
    n_stable: int,
) -> Difference:
    """The `Difference` of two figures whose difference has `variance`, judged against
    "worse by at most `margin`" (larger is worse)."""
    theta = candidate - stable
    reach = half_width(variance, tau, alpha)
    ratio = likelihood_ratio(theta, variance, margin, tau) if theta > margin else 1.0
    return Difference(
        candidate,
        stable,
        theta,
        theta - reach,
        theta + reach,
        min(1.0, 1.0 / ratio),
        margin,
        n_candidate,
        n_stable,
    )


def mean_difference(
    candidate: ArrayLike,
    stable: ArrayLike,
    *,
    margin: float,
    tau: float,
    alpha: float,
    candidate_groups: ArrayLike | None = None,
    stable_groups: ArrayLike | None = None,
) -> Difference:
    """The difference of the per-row means (a rate, when the values are 0 and 1); larger
    is worse. Rows that come in groups (a canary routes whole requests) are judged by
    their groups' variation (see `variance_of_mean`)."""
    c, s = np.asarray(candidate, dtype=float), np.asarray(stable, dtype=float)
    variance = variance_of_mean(c, candidate_groups) + variance_of_mean(s, stable_groups)
    return difference(
        float(c.mean()) if c.size else math.nan,
        float(s.mean()) if s.size else math.nan,
        variance,
        margin=margin,
        tau=tau,
        alpha=alpha,
        n_candidate=int(c.size),
        n_stable=int(s.size),
    )


def auc_with_variance(
    y: ArrayLike, score: ArrayLike, groups: ArrayLike | None = None
) -> tuple[float, float]:
    """ROC AUC and its variance; NaN without both classes. The variance is DeLong's (1988),
    from each row's placement among the other class, or, for rows in `groups`,
    Obuchowski's for clustered data (1997): the rows of one request share its hour and
    route, so 600 rows in 5 requests weigh as 5, not 600. It is never taken below the
    per-row figure."""
    t, s = np.asarray(y, dtype=float) == 1, np.asarray(score, dtype=float)
    positives, negatives = int(t.sum()), int((~t).sum())
    if positives == 0 or negatives == 0:
        return math.nan, math.nan
    ranks = _ranks(s)
    # A positive's share of negatives scored below it, a negative's of positives above
    # it (ties count a half); AUC is the mean of either.
    above = (ranks[t] - _ranks(s[t])) / negatives
    below = 1 - (ranks[~t] - _ranks(s[~t])) / positives
    auc = float(above.mean())
    variance = _clustered_auc_variance(t, above, below, auc, np.arange(t.size))
    if groups is not None:
        codes = pd.factorize(np.asarray(groups))[0]
        variance = max(variance, _clustered_auc_variance(t, above, below, auc, codes))
    return auc, float(max(variance, 1e-12))


def _clustered_auc_variance(
    positive: np.ndarray, above: np.ndarray, below: np.ndarray, auc: float, codes: np.ndarray
) -> float:
    """Obuchowski's variance of the AUC from each cluster's summed placements (with a
    cluster per row: DeLong's)."""
    k = int(codes.max()) + 1
    if k < 2:
        return math.inf
    m, n = above.size, below.size
    pos, neg = codes[positive], codes[~positive]
    d10 = np.bincount(pos, above, k) - np.bincount(pos, minlength=k) * auc
    d01 = np.bincount(neg, below, k) - np.bincount(neg, minlength=k) * auc
    spread = (d10 @ d10) / (m * m) + (d01 @ d01) / (n * n) + 2 * (d10 @ d01) / (m * n)
    return float(k / (k - 1) * spread)


def fixed_horizon_rows(sd: float, effect: float, *, alpha: float, power: float = 0.8) -> float:
    """Rows per arm a fixed-horizon two-sided z-test needs to detect `effect` with `power`
    when one row's figure has standard deviation `sd`."""
    from scipy.stats import norm

    z = norm.ppf(1 - alpha / 2) + norm.ppf(power)
    return float(2 * (z * sd / effect) ** 2)


def variance_of_mean(values: np.ndarray, groups: ArrayLike | None = None) -> float:
    """The variance of `values`' mean. A rate's is taken as if half a success and half a
    failure more were seen, so an arm with no failure yet still has some uncertainty. For
    rows in `groups`, the cluster-robust variance from each group's sum, never below the
    per-row figure: a request that times out fails all its rows at once."""
    n = values.size
    if n == 0:
        return math.inf
    if np.isin(values, (0.0, 1.0)).all():
        rate = (values.sum() + 0.5) / (n + 1)
        per_row = float(rate * (1 - rate) / n)
    else:
        per_row = float(values.var(ddof=1) / n) if n > 1 else math.inf
    if groups is None:
        return per_row
    codes = pd.factorize(np.asarray(groups))[0]
    k = int(codes.max()) + 1
    if k < 2:
        return math.inf
    residual = np.bincount(codes, values, k) - np.bincount(codes, minlength=k) * values.mean()
    return max(per_row, float(k / (k - 1) * (residual @ residual) / (n * n)))


def _ranks(values: np.ndarray) -> np.ndarray:
    from scipy.stats import rankdata

    return np.asarray(rankdata(values), dtype=float)
