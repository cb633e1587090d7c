"""The serving benchmark's model and rows: LightGBM, 500 trees, 20 numeric features."""

from __future__ import annotations

from pathlib import Path

import numpy as np

FEATURES = [f"f{i:02d}" for i in range(20)]
TREES = 500


def rows(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, len(FEATURES)))
    x[rng.random(x.shape) < 0.03] = np.nan
    return x


def train(folder: Path) -> Path:
    """Fit the model once and save it as LightGBM text; returns the file."""
    import lightgbm as lgb

    x = rows(50_000, seed=1)
    logit = np.nan_to_num(x[:, 0] + 0.5 * x[:, 1] * x[:, 2] - 0.3 * np.abs(x[:, 3]))
    y = (np.random.default_rng(2).random(len(x)) < 1 / (1 + np.exp(-logit))).astype(int)
    params = {"objective": "binary", "num_leaves": 31, "verbose": -1, "num_threads": 1, "seed": 0}
    booster = lgb.train(params, lgb.Dataset(x, y, feature_name=FEATURES), num_boost_round=TREES)
    file = folder / "model.txt"
    booster.save_model(str(file))
    return file
