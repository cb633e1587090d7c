"""Statistics profile of a table: the reference that drift checks compare against.

Numeric columns are binned at the reference's deciles (open-ended outer bins, so values
outside the reference range still land somewhere); categorical columns keep their most
frequent values and an "other" share. `column_psi` compares a column with its profile:
the population stability index, an effect size that does not cry wolf on large samples
(rule of thumb: < 0.1 stable, 0.1–0.25 moderate, > 0.25 major shift).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

TOP_CATEGORIES = 50
_EPS = 1e-4  # floor for empty bins, so a bin seen on one side only scores high but finite
_QUANTILES = (0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99)
_DECILES = np.linspace(0.1, 0.9, 9)


def profile_frame(frame: pd.DataFrame, columns: Sequence[str] | None = None) -> dict[str, Any]:
    """A JSON-serialisable profile of `columns` (default: all) of `frame`."""
    names = list(columns) if columns is not None else list(frame.columns)
    return {
        "num_rows": len(frame),
        "columns": {name: profile_column(frame[name]) for name in names},
    }


def profile_column(values: pd.Series) -> dict[str, Any]:
    values = _numeric_view(values)
    nulls = int(values.isna().sum())
    base: dict[str, Any] = {
        "nulls": nulls,
        "null_fraction": nulls / len(values) if len(values) else 0.0,
    }
    present = values.dropna()
    if is_numeric(values):
        data = present.to_numpy(dtype=float)
        if data.size == 0:  # one empty bin: shapes stay consistent for drift
            return {**base, "kind": "numeric", "edges": [], "fractions": [0.0]}
        edges = np.unique(np.quantile(data, _DECILES)).tolist()
        return {
            **base,
            "kind": "numeric",
            "min": float(data.min()),
            "max": float(data.max()),
            "mean": float(data.mean()),
            "std": float(data.std()),
            "quantiles": dict(
                zip(map(str, _QUANTILES), np.quantile(data, _QUANTILES).tolist(), strict=True)
            ),
            "edges": edges,
            "fractions": numeric_fractions(data, edges).tolist(),
        }
    shares = _as_text(present).value_counts(normalize=True)
    top = shares.head(TOP_CATEGORIES)
    return {
        **base,
        "kind": "categorical",
        "distinct": int(shares.size),
        "top": {str(k): float(v) for k, v in top.items()},
        "other_fraction": float(max(0.0, 1.0 - top.sum())),
    }


def is_numeric(values: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)


def numeric_fractions(data: np.ndarray, edges: Sequence[float]) -> np.ndarray:
    """Share of `data` in each of the len(edges)+1 bins split at the inner `edges`."""
    counts = np.bincount(np.searchsorted(edges, data, side="right"), minlength=len(edges) + 1)
    return counts / max(1, data.size)


def categorical_fractions(values: pd.Series, categories: Sequence[str]) -> np.ndarray:
    """Share of `values` in each of `categories`, then one last bin for everything else."""
    shares = _as_text(values.dropna()).value_counts(normalize=True)
    known = np.array([shares.get(c, 0.0) for c in categories])
    return np.append(known, max(0.0, 1.0 - known.sum()))


def psi(expected: np.ndarray, actual: np.ndarray) -> float:
    """Population stability index of two vectors of bin shares (each summing to 1)."""
    e = np.clip(np.asarray(expected, dtype=float), _EPS, None)
    a = np.clip(np.asarray(actual, dtype=float), _EPS, None)
    return float(np.sum((a - e) * np.log(a / e)))


def column_psi(ref: dict[str, Any], values: pd.Series) -> float:
    """PSI of `values` against one column's profile, with missing values as their own bin."""
    values = _numeric_view(values)
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


def _numeric_view(values: pd.Series) -> pd.Series:
    """Timestamps as seconds since the epoch: binned like any number, never as text."""
    if isinstance(values.dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_dtype(values):
        naive = (
            values.dt.tz_convert(None) if isinstance(values.dtype, pd.DatetimeTZDtype) else values
        )
        micros = naive.dt.as_unit("us").to_numpy(dtype="datetime64[us]").view("int64")
        return pd.Series(micros / 1e6, index=values.index).where(values.notna())
    return values


def _as_text(values: pd.Series) -> pd.Series:
    # Text columns are counted as they are: converting them again costs seconds per million.
    if isinstance(values.dtype, pd.StringDtype) or values.dtype == object:
        return values
    return values.astype(str)
