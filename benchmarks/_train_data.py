"""The table benchmarks/train.py trains on: N rows × 30 columns, written as Parquet.

25 numeric and 4 categorical inputs, a timestamp (for the time split) and a binary label
with interactions a linear model misses, generated in code with a fixed seed.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

NUMERIC = [f"x{i}" for i in range(25)]
CATEGORICAL = ["region", "plan", "device", "channel"]
LABEL, TIME = "converted", "at"
VALID_FROM = "2024-10-01T00:00:00+00:00"  # the last quarter is held out


def write(path: Path, rows: int, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(rng.normal(size=(rows, len(NUMERIC))), columns=NUMERIC)
    frame["region"] = rng.choice([f"r{i}" for i in range(12)], rows)
    frame["plan"] = rng.choice(["free", "basic", "pro", "team"], rows, p=[0.4, 0.3, 0.2, 0.1])
    frame["device"] = rng.choice(["ios", "android", "web"], rows)
    frame["channel"] = rng.choice([f"c{i}" for i in range(30)], rows)
    start = pd.Timestamp("2024-01-01", tz="UTC")
    frame[TIME] = start + pd.to_timedelta(np.sort(rng.integers(0, 366 * 86400, rows)), unit="s")
    logit = (
        -1.0
        + 1.2 * (frame["x0"] > 0.5) * (frame["x1"] < 0)
        + 0.8 * np.sin(2 * frame["x2"])
        + 0.6 * frame["x3"] * frame["x4"]
        + 0.5 * (frame["plan"] == "pro")
        + 0.3 * frame["x5"]
    )
    frame[LABEL] = (rng.random(rows) < 1 / (1 + np.exp(-logit))).astype(int)
    frame.loc[rng.random(rows) < 0.02, "x6"] = np.nan  # some missing values, as in life
    frame.to_parquet(path, index=False)
