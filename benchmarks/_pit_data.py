"""The point-in-time benchmark's data: events and three feature views, from a fixed seed.

Numpy and pandas only, so the peer's own virtual environment can import it too.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

START = pd.Timestamp("2024-01-01", tz="UTC")
DAYS = 30
VIEWS = {  # name: (join key, number of entities, share of the feature rows, features)
    "driver_stats": ("driver_id", 10_000, 0.4, ("conv_rate", "acc_rate", "trips")),
    "customer_stats": ("customer_id", 10_000, 0.4, ("spend", "visits", "rating")),
    "location_stats": ("location_id", 1_000, 0.2, ("demand", "supply", "surge")),
}


def write(folder: Path, *, events: int, feature_rows: int, seed: int = 0) -> None:
    """events.parquet and one Parquet file per view under `folder`."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    seconds = DAYS * 86_400
    frame = {"row_id": np.arange(events)}
    for key, entities, _, _ in VIEWS.values():
        frame[key] = rng.integers(0, entities, events)
    frame["event_timestamp"] = START + pd.to_timedelta(rng.integers(0, seconds, events), unit="s")
    pd.DataFrame(frame).to_parquet(folder / "events.parquet", index=False)
    for name, (key, entities, share, features) in VIEWS.items():
        n = int(feature_rows * share)
        # Microsecond times: no two rows of a key share a time, so results do not depend on
        # tie-breaking, where Feast's file store was seen to disagree with its own docs.
        ts = START + pd.to_timedelta(rng.integers(0, seconds * 1_000_000, n), unit="us")
        view = {
            key: rng.integers(0, entities, n),
            "event_timestamp": ts,
            "created": ts + pd.to_timedelta(rng.integers(0, 3_600, n), unit="s"),
        }
        for feature in features:
            view[feature] = rng.normal(size=n).round(6)
        pd.DataFrame(view).to_parquet(folder / f"{name}.parquet", index=False)
