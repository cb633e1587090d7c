"""Per-feature data drift of a window against the reference, with defaults by type and size.

Defaults follow the practice Evidently documents, so results are comparable: with more
than 1,000 reference values, effect sizes (a p-value is "significant" for any shift once
samples are large) — the Wasserstein distance in reference standard deviations for a
numeric feature, the Jensen–Shannon distance for a categorical one (or a numeric one with
at most 5 distinct values), each drifted from 0.1; with fewer, tests — Kolmogorov–Smirnov
and chi-square, drifted below p = 0.05. PSI (drifted from 0.2) can be chosen for either
kind. Methods and thresholds can be set per feature. Missing values are left out of the
statistics (as Evidently does) and judged apart: a feature whose share of missing values
moves by `MISSING_SHIFT` or more has drifted too. Features are compared on a pool of
threads: sorting and counting release the GIL.
"""

from __future__ import annotations

from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd

from prodml.data.profile import numeric_fractions
from prodml.errors import ConfigError, DataValidationError
from prodml.monitor import stats
from prodml.monitor.reference import (
    NUMERIC,
    Reference,
    ReferenceColumn,
    category_counts,
    present_numbers,
)

THRESHOLDS = {"wasserstein": 0.1, "jensenshannon": 0.1, "psi": 0.2, "ks": 0.05, "chisquare": 0.05}
P_VALUE_METHODS = frozenset({"ks", "chisquare"})  # drifted when p < threshold
LARGE = 1000  # reference values above which effect sizes, not p-values, decide
FEW_VALUES = 5  # a numeric feature with this many distinct values or fewer is compared by category
MISSING_SHIFT = 0.1  # an absolute change of the share of missing values that counts as drift


@dataclass(frozen=True)
class FeatureDrift:
    """One feature's drift in one window."""

    feature: str
    method: str
    statistic: float
    p_value: float | None
    threshold: float
    drifted: bool  # by its statistic, or by its share of missing values
    rows: int  # present values in the window
    missing_share: float = 0.0
    reference_missing_share: float = 0.0


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
    workers: int = 2,
) -> list[FeatureDrift]:
    """Drift of each reference feature in `current`, in the reference's feature order.

    `methods` and `thresholds` override the defaults per feature (see the module doc)."""
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

    def one(name: str) -> FeatureDrift:
        column = reference.columns[name]
        method = methods.get(name) or default_method(column)
        return _compare_column(name, column, current[name], method, thresholds.get(name))

    with ThreadPoolExecutor(max(1, workers)) as pool:
        return list(pool.map(one, reference.columns))


def _compare_column(
    name: str, column: ReferenceColumn, values: pd.Series, method: str, threshold: float | None
) -> FeatureDrift:
    limit = THRESHOLDS[method] if threshold is None else threshold
    p_value: float | None = None
    if column.kind == NUMERIC:
        data = present_numbers(values)
        rows = int(data.size)
        ref = column.sorted_values
        assert ref is not None
        if rows == 0 or ref.size == 0:
            statistic = 0.0
        elif method == "wasserstein":
            statistic = stats.normed_wasserstein(ref, data, column.std)
        elif method == "ks":
            statistic, p_value = stats.ks(ref, data)
        elif method == "psi":
            edges = np.unique(np.quantile(ref, np.linspace(0.1, 0.9, 9)))
            statistic = stats.psi(numeric_fractions(ref, edges), numeric_fractions(data, edges))
        else:  # few distinct values: compared as categories of their values
            ref_counts, cur_counts = _value_counts(ref), _value_counts(data)
            statistic, p_value = _categorical(method, ref_counts, cur_counts)
    else:
        counts = category_counts(values)
        rows = sum(counts.values())
        statistic, p_value = _categorical(method, column.counts, counts) if rows else (0.0, None)
    if method in P_VALUE_METHODS:
        drifted = p_value is not None and p_value < limit
    else:
        drifted = statistic >= limit
    missing = 1.0 - rows / len(values) if len(values) else 0.0
    reference_missing = column.nulls / max(1, column.nulls + column.rows)
    drifted = drifted or abs(missing - reference_missing) >= MISSING_SHIFT
    return FeatureDrift(
        name, method, statistic, p_value, limit, bool(drifted), rows, missing, reference_missing
    )


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
