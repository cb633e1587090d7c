"""The online benchmark's data and requests, from a fixed seed.

Numpy and pandas only, so the peer's own virtual environment can import it too.
One feature view, "user_stats", keyed by "user_id": mostly float features, plus one
integer and one string feature when there are three or more.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

VIEW, KEY = "user_stats", "user_id"
TTL_DAYS = 7


def feature_names(n: int) -> list[str]:
    """`n` feature names: floats, then (from three features up) an int and a string."""
    if n < 3:
        return [f"f{i:03d}" for i in range(n)]
    return [f"f{i:03d}" for i in range(n - 2)] + ["orders", "tier"]


def kinds(n: int) -> dict[str, str]:
    """Feature name -> "float", "int" or "str"."""
    return {name: {"orders": "int", "tier": "str"}.get(name, "float") for name in feature_names(n)}


def write(path: Path, *, entities: int, features: int, now: pd.Timestamp, seed: int = 0) -> None:
    """One row per entity, stamped within the hour before `now` (fresh for the view's TTL)."""
    rng = np.random.default_rng(seed)
    frame: dict[str, object] = {
        KEY: np.arange(entities, dtype=np.int64),
        "event_timestamp": now - pd.to_timedelta(rng.integers(1, 3_600, entities), unit="s"),
    }
    for name, kind in kinds(features).items():
        if kind == "int":
            frame[name] = rng.integers(0, 1_000, entities).astype(np.int64)
        elif kind == "str":
            frame[name] = rng.choice(["bronze", "silver", "gold"], entities).astype(object)
        else:
            frame[name] = rng.normal(size=entities)
    pd.DataFrame(frame).to_parquet(path, index=False)


def requests(entities: int, calls: int, batch: int, seed: int) -> list[list[int]]:
    """`calls` lists of `batch` distinct entity ids (plain ints), the same for both tools."""
    rng = np.random.default_rng(seed)
    return [[int(i) for i in rng.choice(entities, size=batch, replace=False)] for _ in range(calls)]


def summary(nanos: list[int]) -> dict[str, float]:
    """p50, p99 and mean of per-call times, in milliseconds."""
    ms = np.asarray(nanos, dtype=float) / 1e6
    return {
        "p50_ms": float(np.percentile(ms, 50)),
        "p99_ms": float(np.percentile(ms, 99)),
        "mean_ms": float(ms.mean()),
    }
