"""Per-feature data drift: the population stability index against a reference profile.

PSI compares binned shares (the reference's deciles for numerics, its top categories plus
"other" for categoricals, and a bin for missing values in both). It is an effect size,
not a test, so it does not cry wolf on large samples. Rule of thumb: < 0.1 stable,
0.1–0.25 moderate, > 0.25 major shift.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from prodml.data.profile import categorical_fractions, numeric_fractions

DRIFT_THRESHOLD = 0.25
_EPS = 1e-4  # floor for empty bins, so a bin seen on one side only scores high but finite


def psi(expected: np.ndarray, actual: np.ndarray) -> float:
    """Population stability index of two vectors of bin shares (each summing to 1)."""
    e = np.clip(np.asarray(expected, dtype=float), _EPS, None)
    a = np.clip(np.asarray(actual, dtype=float), _EPS, None)
    return float(np.sum((a - e) * np.log(a / e)))


def feature_drift(
    reference: Mapping[str, Any], current: pd.DataFrame, features: Sequence[str]
) -> dict[str, float]:
    """PSI of each of `features` in `current` against the reference profile."""
    columns = reference["columns"]
    unknown = [f for f in features if f not in columns]
    if unknown:
        raise ValueError(
            f"The reference profile has no column(s) {unknown}; it covers {sorted(columns)}."
        )
    return {name: _column_psi(columns[name], current[name]) for name in features}


def _column_psi(ref: Mapping[str, Any], values: pd.Series) -> float:
    present = values.dropna()
    cur_null = 1.0 - len(present) / len(values) if len(values) else 0.0
    if ref["kind"] == "numeric":
        expected = np.asarray(ref["fractions"], dtype=float)
        if expected.size != len(ref["edges"]) + 1:
            raise ValueError(
                f"Reference profile of {values.name!r} has {len(ref['edges'])} bin edges but "
                f"{expected.size} shares; it is corrupt. Recompute it from the training data."
            )
        actual = numeric_fractions(present.to_numpy(dtype=float), ref["edges"])
    else:
        categories = list(ref["top"])
        expected = np.append(list(ref["top"].values()), ref["other_fraction"])
        actual = categorical_fractions(present, categories)
    ref_null = ref["null_fraction"]
    return psi(
        np.append(expected * (1 - ref_null), ref_null),
        np.append(actual * (1 - cur_null), cur_null),
    )
