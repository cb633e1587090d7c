"""The drift benchmark's data: a reference and a current table of mixed columns, some of
them shifted, written once as Parquet. Shared by every runner."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

NUMERIC = [f"num_{i}" for i in range(14)]
CATEGORICAL = [f"cat_{i}" for i in range(6)]
PREDICTION = "prediction"
# Shifts in the current table: (column, kind, size). The rest are drawn alike.
SHIFTS = {
    "num_0": ("mean", 0.5),  # plain drift
    "num_1": ("mean", 0.04),  # a shift far below the 0.1 threshold
    "num_2": ("scale", 1.6),  # wider
    "num_3": ("mean", 0.2),
    "cat_0": ("new", 0.25),  # a new category takes a quarter
    "cat_1": ("mix", 0.05),  # a small change of shares
}


def make(folder: Path, rows: int, seed: int = 7) -> tuple[Path, Path]:
    reference, current = folder / "reference.parquet", folder / "current.parquet"
    if not reference.exists():
        _frame(rows, np.random.default_rng(seed), shifted=False).to_parquet(reference)
        _frame(rows, np.random.default_rng(seed + 1), shifted=True).to_parquet(current)
    return reference, current


def _frame(rows: int, rng: np.random.Generator, *, shifted: bool) -> pd.DataFrame:
    columns: dict[str, object] = {}
    for i, name in enumerate(NUMERIC):
        kind, size = SHIFTS.get(name, (None, 0.0)) if shifted else (None, 0.0)
        mean = size if kind == "mean" else 0.0
        scale = size if kind == "scale" else 1.0
        base = rng.normal(mean, scale, rows) if i % 2 == 0 else rng.gamma(2.0, scale, rows) + mean
        base[rng.random(rows) < 0.02] = np.nan  # some missing values everywhere
        columns[name] = base
    for name in CATEGORICAL:
        levels = np.array([f"{name}_v{j}" for j in range(12)], dtype=object)
        shares = np.linspace(2.0, 1.0, 12)
        shares /= shares.sum()
        kind, size = SHIFTS.get(name, (None, 0.0)) if shifted else (None, 0.0)
        if kind == "mix":
            shares = shares * np.linspace(1 - size * 4, 1 + size * 4, 12)
            shares /= shares.sum()
        values = rng.choice(levels, size=rows, p=shares)
        if kind == "new":
            values[rng.random(rows) < size] = f"{name}_new"
        columns[name] = values
    x = np.nan_to_num(columns["num_0"]) + 0.5 * np.nan_to_num(columns["num_2"])  # type: ignore[operator]
    columns[PREDICTION] = 1 / (1 + np.exp(-x))
    return pd.DataFrame(columns)
