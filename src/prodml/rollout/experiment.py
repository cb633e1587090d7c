"""An A/B test's verdict on its declared metric: the difference between an arm and the
primary arm with its confidence sequence (valid however often it is read), the labelled
rows it rests on, and how many more rows per arm would detect the smallest difference
worth knowing (`rollouts.ab_min_effect`).

A winner is declared only when the confidence sequence excludes zero, so an A/A test (two
arms of the same version) names a winner with probability at most α, however long it
runs and however often it is read.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from prodml.monitor.labels import LABEL
from prodml.monitor.traffic import PREDICTION
from prodml.rollout.sequential import auc_with_variance, half_width, variance_of_mean

# metric -> (higher is better, a classifier's); the per-row ones are means of a loss.
METRICS = {
    "roc_auc": (True, True),
    "log_loss": (False, True),
    "brier": (False, True),
    "mae": (False, False),
    "mse": (False, False),
}
_TAU = 0.05


@dataclass(frozen=True)
class Verdict:
    """`arm` against the primary on `metric`: each side's figure, the difference (arm
    minus primary, in the metric's own direction), its confidence sequence, the labelled
    rows of each side, and the rows per arm still needed to detect `min_effect`."""

    arm: str
    metric: str
    value: float
    primary_value: float
    difference: float
    low: float
    high: float
    n: int
    n_primary: int
    rows_needed: int | None
    winner: str | None  # the arm, "primary", or None: no difference shown yet

    def sentence(self, primary: str) -> str:
        if self.n == 0 or math.isnan(self.difference):
            return f"{self.arm}: no labelled rows on {self.metric} yet"
        span = f"{self.difference:+.4f} ({self.low:+.4f} to {self.high:+.4f})"
        rows = f"on {self.n:,} and {self.n_primary:,} labelled rows"
        if self.winner is not None:
            best = primary if self.winner == "primary" else self.arm
            return f"{best} wins on {self.metric}: {self.arm} - {primary} = {span} {rows}"
        more = f"; about {self.rows_needed:,} more per arm" if self.rows_needed else ""
        return f"{self.arm} vs {primary} on {self.metric}: {span} {rows}, no winner yet{more}"


def verdict(
    arm: str,
    rows: pd.DataFrame,
    primary: pd.DataFrame,
    *,
    metric: str,
    alpha: float,
    min_effect: float,
) -> Verdict:
    """Compare `rows` (an arm's labelled traffic) with `primary`'s on `metric`."""
    higher_better, _ = METRICS[metric]
    a, b = _labelled(rows), _labelled(primary)
    value, v_a = _figure(a, metric)
    base, v_b = _figure(b, metric)
    variance = v_a + v_b
    theta = value - base
    reach = half_width(variance, _TAU, alpha)
    low, high = theta - reach, theta + reach
    winner = None
    if low > 0 or high < 0:
        arm_better = (low > 0) == higher_better
        winner = arm if arm_better else "primary"
    needed = None
    if winner is None and variance > 0 and math.isfinite(variance):
        needed = _rows_for(variance, min(len(a), len(b)), min_effect, alpha)
        needed = max(needed - min(len(a), len(b)), 0)
    return Verdict(arm, metric, value, base, theta, low, high, len(a), len(b), needed, winner)


def _labelled(rows: pd.DataFrame) -> pd.DataFrame:
    if LABEL not in rows:
        return rows.iloc[0:0].assign(**{LABEL: pd.Series(dtype=float)})
    return rows.dropna(subset=[LABEL, PREDICTION])


def _figure(rows: pd.DataFrame, metric: str) -> tuple[float, float]:
    """The metric on `rows` and the variance of that estimate."""
    if len(rows) < 2:
        return math.nan, math.inf
    y = rows[LABEL].to_numpy(dtype=float)
    p = rows[PREDICTION].to_numpy(dtype=float)
    # An arm takes whole requests: a request's rows vary together (see sequential.py).
    groups = rows["request_id"].to_numpy() if "request_id" in rows else None
    if metric == "roc_auc":
        return auc_with_variance(y, p, groups)
    if metric == "log_loss":
        q = np.clip(p, 1e-15, 1 - 1e-15)
        loss = -(y * np.log(q) + (1 - y) * np.log(1 - q))
    elif metric == "brier":
        loss = (p - y) ** 2
    elif metric == "mae":
        loss = np.abs(p - y)
    else:
        loss = (p - y) ** 2
    return float(loss.mean()), variance_of_mean(loss, groups)


def _rows_for(variance: float, n: int, effect: float, alpha: float) -> int:
    """Rows per arm at which the confidence sequence's half-width falls to `effect`,
    the per-row variance taken as it is now (`variance` at `n` rows per arm)."""
    scale = variance * max(n, 1)
    rows = max(n, 1)
    while half_width(scale / rows, _TAU, alpha) > effect and rows < 10**9:
        rows *= 2
    low, high = rows // 2, rows
    while high - low > max(1, low // 100):
        middle = (low + high) // 2
        if half_width(scale / middle, _TAU, alpha) > effect:
            low = middle
        else:
            high = middle
    return high
