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


# The enriched case: the first STORED features live in the online store under a customer
# key; a request sends the key and the rest.
STORED = 15
CUSTOMERS = 10_000


def feature_service(folder: Path):  # -> prodml FeatureService
    """One view, `profile`, of the first STORED features by `customer` (a day's TTL)."""
    from datetime import timedelta

    from prodml.features.definitions import Entity, FeatureService, FeatureView

    customer = Entity("customer", ("customer",))
    view = FeatureView(
        name="profile",
        entity=customer,
        source=str(folder / "profile.parquet"),  # never read: serving reads the online store
        timestamp="updated_at",
        features=tuple(FEATURES[:STORED]),
        ttl=timedelta(days=1),
    )
    return FeatureService("bench", views=(view,))


def fill_online_store(url: str, folder: Path, first: np.ndarray) -> None:
    """Every customer's stored features, updated an hour ago; customer c00000 holds the
    first STORED values of `first` (the row whose score the benchmark checks)."""
    from datetime import UTC, datetime, timedelta

    from prodml.features.online import open_online_store

    (view,) = feature_service(folder).views
    values = rows(CUSTOMERS, seed=5)[:, :STORED]
    values[0] = first[:STORED]
    at = datetime.now(UTC) - timedelta(hours=1)
    store = open_online_store(url)
    try:
        store.write(
            view,
            [
                (
                    customer_key(i),
                    at,
                    {f: _json(v) for f, v in zip(view.features, row, strict=True)},
                )
                for i, row in enumerate(values)
            ],
        )
    finally:
        store.close()


def customer_key(i: int) -> tuple[str]:
    return (f"c{i:05d}",)


def _json(value: float) -> float | None:
    return None if np.isnan(value) else float(value)
