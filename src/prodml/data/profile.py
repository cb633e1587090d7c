"""Statistics profile of a table: the reference that drift monitoring compares against.

Numeric columns are binned at the reference's deciles (open-ended outer bins, so values
outside the reference range still land somewhere); categorical columns keep their most
frequent values and an "other" share.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

TOP_CATEGORIES = 50
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
    shares = present.astype(str).value_counts(normalize=True)
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
    shares = values.dropna().astype(str).value_counts(normalize=True)
    known = np.array([shares.get(c, 0.0) for c in categories])
    return np.append(known, max(0.0, 1.0 - known.sum()))
