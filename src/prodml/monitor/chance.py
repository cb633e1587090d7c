"""What each drift statistic reaches by chance alone in a window of n rows, so a verdict can
tell a shift from sampling noise at any window size.

A fixed distance threshold cannot: at 500 rows, samples of the very period a model trained
on differ from it by more than 0.1 in a feature of 99 categories almost always, while at
50,000 rows a real shift a tenth that size stands far out of the noise. So each feature's
null distribution is drawn once per window size, by resampling the reference at that size
(`DRAWS` windows of n values drawn from the reference itself; n rounded down to a step of a
half-octave grid, the level scaled from there as below), and one family-wide level
is set from it by the max-z method: the feature statistics of each drawn window are
standardized by their own null mean and deviation, and the level is the (1 - `ALPHA`)
quantile of their maximum, so a window with no shift at all shows drift in any feature
with probability about `ALPHA`, however many features there are.

Draws are compared with (at most `POPULATION` quantiles of) the reference, as the window is
compared with the whole of it; a window and a reference are two samples of one
population, so levels are scaled for the reference's own size (by (1 + n/N) to the
statistic's rate). Above `MAX_DRAWN` rows the null is drawn at `MAX_DRAWN` and scaled by
the rate at which the statistic shrinks with n: the square root for distances and KS,
linear for PSI. The grid and `levels_for` are what make this affordable when monitoring runs
often: daily windows each of their own size would each cost a fresh set of draws (about
three seconds per feature), on every pass of every process.

Draws cannot reach past the reference's extremes, so on a heavy-tailed feature the
Wasserstein distance passes its level somewhat more often than the null says (measured:
0.6–0.9 % against 0.5 % for a gamma-distributed one at 500 rows); over whole windows, no-shift
controls alarmed in 0–2 % of cases (`benchmarks/drift_truth.py`, tests/monitor/test_compare.py).
"""

from __future__ import annotations

import hashlib
import math
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import replace

import numpy as np

from prodml.monitor.reference import NUMERIC, Reference, ReferenceColumn
from prodml.monitor.stats import normed_wasserstein_draws

DRAWS = 1000  # 200 left the family's false alarms at 7 %, the 95th percentile too coarse
ALPHA = 0.01  # chance that a window with no shift shows drift in any feature (family-wise)
POPULATION = 10_000  # reference quantiles the draws come from
MAX_DRAWN = 2_000  # rows per draw; a larger window's level is scaled from here
_LINEAR = frozenset({"psi"})  # statistics that shrink as 1/n, not 1/sqrt(n)
GRID = 2  # sizes drawn per octave: 1024, 1448, 2048, ... (each level scaled to the window)
_KEPT = 8  # references whose levels a process keeps between passes (see `levels_for`)

# statistic(column, method, values) -> the statistic of a drawn window; the caller's own.
Statistic = Callable[[ReferenceColumn, str, "np.ndarray | dict[str, int]"], float]


class ChanceLevels:
    """Null distributions of `reference`'s features, drawn once per (feature, method,
    size) and kept, and the family-wide levels they give; safe to share between threads."""

    def __init__(
        self, reference: Reference, statistic: Statistic, *, alpha: float = ALPHA, seed: int = 0
    ) -> None:
        if not 0.0 < alpha < 1.0:
            raise ValueError(f"alpha must be in (0, 1); got {alpha}.")
        self.reference = reference
        self.statistic = statistic
        self.alpha = alpha
        self.seed = seed
        self._nulls: dict[tuple[str, str, int], np.ndarray] = {}
        self._populations: dict[str, ReferenceColumn] = {}
        self._lock = threading.Lock()

    def null(self, name: str, method: str, rows: int) -> np.ndarray | None:
        """`DRAWS` statistics of `name` in windows of `rows` values drawn from the
        reference, scaled to be compared with the whole reference; None when the
        reference holds no values of it."""
        column = self.reference.columns[name]
        if column.rows == 0 or rows == 0:
            return None
        drawn = drawn_size(rows)
        key = (name, method, drawn)
        with self._lock:
            null = self._nulls.get(key)
        if null is None:
            null = self._draw(name, column, method, drawn)
            with self._lock:
                self._nulls[key] = null
        power = 1.0 if method in _LINEAR else 0.5
        # From (draws of `drawn` against the population) to (`rows` against N reference rows).
        return null * ((1.0 / rows + 1.0 / column.rows) * drawn) ** power

    def levels(self, nulls: Mapping[str, np.ndarray | None]) -> dict[str, float | None]:
        """Per feature, the level its statistic must pass to count as beyond chance, all
        features of one window together (see the module docstring)."""
        usable = {n: d for n, d in nulls.items() if d is not None and d.std() > 0}
        out: dict[str, float | None] = {n: None for n in nulls}
        for name, null in nulls.items():
            if null is not None and name not in usable:  # a constant null: any change counts
                out[name] = float(null.mean())
        if not usable:
            return out
        means = np.array([d.mean() for d in usable.values()])
        stds = np.array([d.std() for d in usable.values()])
        z = (np.stack(list(usable.values())) - means[:, None]) / stds[:, None]
        level = float(np.quantile(z.max(axis=0), 1.0 - self.alpha))
        out.update({n: float(m + level * s) for n, m, s in zip(usable, means, stds, strict=True)})
        return out

    def _draw(self, name: str, column: ReferenceColumn, method: str, rows: int) -> np.ndarray:
        # One generator per feature and size: the levels do not depend on thread order.
        rng = np.random.default_rng([self.seed, rows, *name.encode()])
        population = self._population(name, column)
        if column.kind == NUMERIC:
            values = population.sorted_values
            assert values is not None
            drawn = rng.choice(values, size=(DRAWS, rows))
            if method == "wasserstein":  # the common case, all draws in one pass
                return normed_wasserstein_draws(values, drawn, population.std)
            return np.array([self.statistic(population, method, d) for d in drawn])
        keys = list(column.counts)
        shares = np.array(list(column.counts.values()), dtype=float)
        counts = rng.multinomial(rows, shares / shares.sum(), size=DRAWS)
        return np.array(
            [
                self.statistic(column, method, dict(zip(keys, map(int, c), strict=True)))
                for c in counts
            ]
        )

    def _population(self, name: str, column: ReferenceColumn) -> ReferenceColumn:
        """The column as drawn from and compared with: a numeric one cut to `POPULATION`
        evenly spaced quantiles, so a draw costs the same for any reference size."""
        if column.kind != NUMERIC:
            return column
        with self._lock:
            found = self._populations.get(name)
        if found is None:
            values = column.sorted_values
            assert values is not None
            if values.size > POPULATION:
                at = np.linspace(0, values.size - 1, POPULATION).round().astype(int)
                values = values[at]
            found = replace(column, sorted_values=values, rows=int(values.size))
            with self._lock:
                self._populations[name] = found
        return found


def drawn_size(rows: int) -> int:
    """The size a window of `rows` values is drawn at: `rows` rounded down to the grid,
    at most `MAX_DRAWN`, so windows of nearby sizes share one null."""
    if rows >= MAX_DRAWN:
        return MAX_DRAWN
    return max(1, int(2 ** (math.floor(math.log2(rows) * GRID) / GRID)))


_levels: OrderedDict[tuple[bytes, Statistic, float], ChanceLevels] = OrderedDict()
_levels_lock = threading.Lock()


def levels_for(reference: Reference, statistic: Statistic, *, alpha: float = ALPHA) -> ChanceLevels:
    """The `ChanceLevels` of `reference`, kept for the process: the next monitoring pass
    over a reference of the same content (loaded again, by an agent ticking every hour)
    reuses what was drawn instead of drawing it again."""
    key = (_fingerprint(reference), statistic, alpha)
    with _levels_lock:
        found = _levels.get(key)
        if found is None:
            found = _levels[key] = ChanceLevels(reference, statistic, alpha=alpha)
            while len(_levels) > _KEPT:
                _levels.popitem(last=False)
        _levels.move_to_end(key)
        return found


def _fingerprint(reference: Reference) -> bytes:
    """What the draws depend on: each column's kind, size, values and category counts."""
    digest = hashlib.blake2b(digest_size=16)
    for name, column in reference.columns.items():
        digest.update(
            f"{name}\0{column.kind}\0{column.rows}\0{sorted(column.counts.items())}".encode()
        )
        if column.sorted_values is not None:
            digest.update(np.ascontiguousarray(column.sorted_values).tobytes())
    return digest.digest()


def bonferroni(alpha: float, tests: int) -> float:
    """The per-test level that keeps the family's false-alarm chance at `alpha`."""
    return alpha / max(1, tests)


__all__ = ["ALPHA", "ChanceLevels", "bonferroni"]
