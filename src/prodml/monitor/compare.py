"""Per-feature data drift of a window against the reference, judged for the window's size.

A feature's statistic is, by default, an effect size, as Evidently measures it: the
Wasserstein distance in reference standard deviations for a numeric feature, the
Jensen–Shannon distance for a categorical one (or a numeric one with at most 5 distinct
values); PSI can be chosen for either. A feature has drifted when its statistic passes
both the effect floor (`THRESHOLDS`: a large window must not alarm on a trivial effect)
and the level it reaches by chance alone at this window's size (`chance.py`: a small
window must not alarm on noise; all features of a window together keep the chance of any
false alarm at `chance.ALPHA`). With a reference of at most 1,000 values, or when chosen,
tests decide instead — Kolmogorov–Smirnov and chi-square, below p = 0.05 after a
Bonferroni correction over the window's features.

Two more rules catch what one distance over all values hides: a category whose share
moved by a factor of `RARE_FACTOR` or more (one the reference never saw included), by at
least `RARE_MIN_CHANGE` of the rows and beyond chance (a binomial test, corrected over
every category of every feature); and a share of missing values that moved by
`MISSING_SHIFT` or more (missing values are otherwise left out of the statistics).
Each verdict says which rule decided (`FeatureDrift.rule`). Features are measured on a
pool of threads: sorting and counting release the GIL.
"""

from __future__ import annotations

from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd
from scipy import stats as scipy_stats

from prodml.data.profile import numeric_fractions
from prodml.errors import ConfigError, DataValidationError
from prodml.monitor import stats
from prodml.monitor.chance import ALPHA, ChanceLevels, bonferroni
from prodml.monitor.reference import (
    NUMERIC,
    Reference,
    ReferenceColumn,
    category_counts,
    present_numbers,
)

# Effect floors (distances, PSI) and significance levels (tests, before the correction).
THRESHOLDS = {"wasserstein": 0.05, "jensenshannon": 0.05, "psi": 0.2, "ks": 0.05, "chisquare": 0.05}
STATISTICS = frozenset(THRESHOLDS)  # the findings' metric names of drift statistics
P_VALUE_METHODS = frozenset({"ks", "chisquare"})  # drifted when p < threshold / features
LARGE = 1000  # reference values above which effect sizes, not p-values, decide
FEW_VALUES = 5  # a numeric feature with this many distinct values or fewer is compared by category
MISSING_SHIFT = 0.1  # an absolute change of the share of missing values that counts as drift
RARE_FACTOR = 2.0  # a category's share multiplied or divided by this much...
RARE_MIN_CHANGE = 0.005  # ...and moved by half a percent of the rows or more

# What decided a verdict.
EFFECT = "effect"  # drifted: past the effect floor and beyond chance at this size
WITHIN_CHANCE = "within_chance"  # not drifted: no larger than chance gives at this size
BELOW_FLOOR = "below_floor"  # not drifted: beyond chance, but a trivial effect
P_VALUE = "p_value"  # a test decided (drifted or not), Bonferroni-corrected
RARE_CATEGORY = "rare_category"  # drifted: one category's share moved by a large factor
MISSING_SHARE = "missing_share"  # drifted: the share of missing values moved
NO_VALUES = "no_values"  # not judged: the window or the reference has no values
RULES = (EFFECT, WITHIN_CHANCE, BELOW_FLOOR, P_VALUE, RARE_CATEGORY, MISSING_SHARE, NO_VALUES)


@dataclass(frozen=True)
class FeatureDrift:
    """One feature's drift in one window, and the rule that decided it."""

    feature: str
    method: str
    statistic: float
    p_value: float | None
    threshold: float
    drifted: bool
    rows: int  # present values in the window
    missing_share: float = 0.0
    reference_missing_share: float = 0.0
    chance: float | None = None  # what the statistic reaches by chance at this size
    rule: str = EFFECT
    detail: str = ""  # the category that moved, for RARE_CATEGORY


@dataclass(frozen=True)
class _Measured:
    name: str
    method: str
    statistic: float
    p_value: float | None
    rows: int
    missing: float
    reference_missing: float
    null: np.ndarray | None
    moved: list[tuple[str, float, float, float]]  # (category, reference share, share, p)


def default_method(column: ReferenceColumn) -> str:
    if column.kind == NUMERIC and column.distinct > FEW_VALUES:
        return "wasserstein" if column.rows > LARGE else "ks"
    return "jensenshannon" if column.rows > LARGE else "chisquare"


def compare(
    reference: Reference,
    current: pd.DataFrame,
    *,
    methods: Mapping[str, str] | None = None,
    thresholds: Mapping[str, float] | None = None,
    chance: ChanceLevels | None = None,
    workers: int = 2,
) -> list[FeatureDrift]:
    """Drift of each reference feature in `current`, in the reference's feature order.

    `methods` and `thresholds` override the defaults per feature (see the module doc).
    `chance` keeps null distributions between calls on the same reference (a monitoring
    pass over many windows); without it they are drawn for this call."""
    methods, thresholds = dict(methods or {}), dict(thresholds or {})
    unknown = sorted({*methods, *thresholds} - set(reference.columns))
    if unknown:
        raise ConfigError(
            f"Drift settings name feature(s) {', '.join(unknown)} that the reference does not "
            f"have; it has {', '.join(reference.columns)}."
        )
    for name, method in methods.items():
        if method not in THRESHOLDS:
            raise ConfigError(
                f"Drift method {method!r} for {name} is not one of {', '.join(THRESHOLDS)}."
            )
    missing = [n for n in reference.columns if n not in current.columns]
    if missing:
        raise DataValidationError(
            f"The window has no column(s) {', '.join(missing)} that the reference holds."
        )
    levels_of = chance or ChanceLevels(reference, statistic)
    features = len(reference.columns)
    categories = sum(max(1, c.distinct) for c in reference.columns.values())

    def one(name: str) -> _Measured:
        column = reference.columns[name]
        method = methods.get(name) or default_method(column)
        return _measure(name, column, current[name], method, levels_of, categories)

    with ThreadPoolExecutor(max(1, workers)) as pool:
        measured = list(pool.map(one, reference.columns))
    levels = levels_of.levels({m.name: m.null for m in measured})
    return [
        _decide(m, levels[m.name], thresholds.get(m.name), features, levels_of.alpha)
        for m in measured
    ]


def statistic(column: ReferenceColumn, method: str, present: np.ndarray | dict[str, int]) -> float:
    """The statistic `method` of present values (numbers, or counts per category) against
    `column`; what chance levels are drawn with."""
    return _statistic(column, method, present)[0]


def _statistic(
    column: ReferenceColumn, method: str, present: np.ndarray | dict[str, int]
) -> tuple[float, float | None]:
    if isinstance(present, dict):
        return _categorical(method, column.counts, present)
    ref = column.sorted_values
    assert ref is not None
    if method == "wasserstein":
        return stats.normed_wasserstein(ref, present, column.std), None
    if method == "ks":
        return stats.ks(ref, present)
    if method == "psi":
        edges = np.unique(np.quantile(ref, np.linspace(0.1, 0.9, 9)))
        return stats.psi(numeric_fractions(ref, edges), numeric_fractions(present, edges)), None
    # few distinct values: compared as categories of their values
    return _categorical(method, _value_counts(ref), _value_counts(present))


def _measure(
    name: str,
    column: ReferenceColumn,
    values: pd.Series,
    method: str,
    chance: ChanceLevels,
    categories: int,
) -> _Measured:
    present: np.ndarray | dict[str, int]
    if column.kind == NUMERIC:
        present = present_numbers(values)
        rows = int(present.size)
    else:
        present = category_counts(values)
        rows = sum(present.values())
    statistic_, p_value = (0.0, None)
    null = None
    moved: list[tuple[str, float, float, float]] = []
    if rows and column.rows:
        statistic_, p_value = _statistic(column, method, present)
        if method not in P_VALUE_METHODS:
            null = chance.null(name, method, rows)
        if isinstance(present, dict):
            moved = _moved_categories(column.counts, present, bonferroni(ALPHA, categories))
    missing = 1.0 - rows / len(values) if len(values) else 0.0
    reference_missing = column.nulls / max(1, column.nulls + column.rows)
    return _Measured(
        name, method, statistic_, p_value, rows, missing, reference_missing, null, moved
    )


def _decide(
    m: _Measured, level: float | None, threshold: float | None, features: int, alpha: float
) -> FeatureDrift:
    limit = THRESHOLDS[m.method] if threshold is None else threshold
    detail = ""
    if m.rows == 0:
        drifted, rule = False, NO_VALUES
    elif m.method in P_VALUE_METHODS:
        drifted = m.p_value is not None and m.p_value < bonferroni(limit, features)
        rule = P_VALUE
    elif level is not None and m.statistic <= level:
        drifted, rule = False, WITHIN_CHANCE
    elif m.statistic < limit:
        drifted, rule = False, BELOW_FLOOR
    else:
        drifted, rule = True, EFFECT
    if not drifted and m.moved:
        category, before, after, _ = max(m.moved, key=lambda c: _factor(c[1], c[2]))
        drifted, rule = True, RARE_CATEGORY
        was = "never seen" if before == 0 else f"{before:.1%}"
        detail = f"{category!r}: {was} of rows in the reference, {after:.1%} in the window"
    if not drifted and abs(m.missing - m.reference_missing) >= MISSING_SHIFT:
        drifted, rule = True, MISSING_SHARE
    return FeatureDrift(
        m.name,
        m.method,
        m.statistic,
        m.p_value,
        limit,
        drifted,
        m.rows,
        m.missing,
        m.reference_missing,
        level,
        rule,
        detail,
    )


def _moved_categories(
    reference: Mapping[str, int], current: Mapping[str, int], level: float
) -> list[tuple[str, float, float, float]]:
    """Categories whose share moved by `RARE_FACTOR` and `RARE_MIN_CHANGE` or more, beyond
    chance (two-sided binomial test at `level`): (category, reference share, share, p)."""
    keys, ref, cur = stats.shares(reference, current)
    n = sum(current.values())
    total = max(1, sum(reference.values()))
    # A category the reference never saw gets half a row: rare, but not impossible.
    expected = np.where(ref > 0, ref, 0.5 / total)
    factor = np.maximum(cur / expected, expected / np.maximum(cur, 1e-12))
    candidates = np.flatnonzero((factor >= RARE_FACTOR) & (np.abs(cur - ref) >= RARE_MIN_CHANGE))
    if candidates.size == 0:
        return []
    observed = np.round(cur[candidates] * n)
    p_up = scipy_stats.binom.sf(observed - 1, n, expected[candidates])
    p_down = scipy_stats.binom.cdf(observed, n, expected[candidates])
    p = np.minimum(1.0, 2 * np.minimum(p_up, p_down))
    return [
        (keys[i], float(ref[i]), float(cur[i]), float(pi))
        for i, pi in zip(candidates, p, strict=True)
        if pi < level
    ]


def _factor(before: float, after: float) -> float:
    return float("inf") if before == 0 else max(after / before, before / max(after, 1e-12))


def _categorical(
    method: str, reference: Mapping[str, int], current: Mapping[str, int]
) -> tuple[float, float | None]:
    if method == "jensenshannon":
        return stats.jensen_shannon(reference, current), None
    if method == "chisquare":
        return stats.chi_square(reference, current)
    if method == "psi":
        _, ref, cur = stats.shares(reference, current)
        return stats.psi(ref, cur), None
    raise ConfigError(f"Drift method {method!r} does not apply to categories.")


def _value_counts(data: np.ndarray) -> dict[str, int]:
    values, counts = np.unique(data, return_counts=True)
    return {repr(float(v)): int(c) for v, c in zip(values, counts, strict=True)}


def compare_spans(
    records: pd.DataFrame,
    baseline: tuple[datetime, datetime],
    window: tuple[datetime, datetime],
    name: str,
) -> list[FeatureDrift]:
    """Drift of the logged traffic (`records` of model `name`'s log) in `window` against
    the traffic in `baseline`, each a [start, end) of aware times: any chosen window as
    the reference, feature by feature and for the prediction."""
    from prodml.monitor.traffic import META, PREDICTION, between, traffic_frame

    traffic = traffic_frame(records)

    def rows(span: tuple[datetime, datetime], what: str) -> pd.DataFrame:
        start, end = (pd.Timestamp(t).tz_convert("UTC") for t in span)
        found = between(traffic, start, end)
        if found.empty:
            raise DataValidationError(
                f"The {what} {start:%Y-%m-%d %H:%M} – {end:%Y-%m-%d %H:%M} UTC holds no "
                f"logged prediction of {name!r}; the log runs from "
                f"{traffic['timestamp'].min()} to {traffic['timestamp'].max()}."
            )
        return found

    before, after = rows(baseline, "baseline"), rows(window, "window")
    features = [c for c in traffic.columns if c not in META or c == PREDICTION]
    return compare(Reference.from_frame(before, features, sample_rows=0), after)
