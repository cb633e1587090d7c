"""The benchmark batch: 1,000,000 rows × 20 mixed columns, 1 % bad rows, from a fixed seed.

Plain numpy and pandas only, so the peer's own virtual environment can import it too.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

CATEGORIES = [f"c{j}" for j in range(20)]
WORDS = ["alpha", "beta", "gamma", "delta"]


def make_batch(rows: int = 1_000_000, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    columns: dict[str, object] = {"id": np.arange(rows)}
    for i in range(8):
        columns[f"num{i}"] = rng.normal(100, 15, rows)
    for i in range(4):
        columns[f"int{i}"] = rng.integers(0, 1000, rows)
    for i in range(4):
        columns[f"cat{i}"] = rng.choice(CATEGORIES, rows)
    columns["flag"] = rng.random(rows) < 0.5
    start = pd.Timestamp("2024-01-01", tz="UTC")
    columns["ts"] = start + pd.to_timedelta(rng.integers(0, 86_400 * 30, rows), unit="s")
    columns["word"] = rng.choice(WORDS, rows)
    frame = pd.DataFrame(columns)
    bad = rng.choice(rows, rows // 100, replace=False)  # 1 %: half out of range, half unknown
    frame.loc[bad[: len(bad) // 2], "num0"] = -1e9
    frame.loc[bad[len(bad) // 2 :], "cat0"] = "unknown"
    return frame
