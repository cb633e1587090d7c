"""The point-in-time benchmark's data: events and N feature views, from a fixed seed.

Two shapes. "default": events against views keyed by driver, customer and location (the
issue's 1,000,000 events × 10,000,000 feature rows; a fourth view onwards reuses those keys
with new features). "feast-issue": the shape of https://github.com/feast-dev/feast/issues/3003
(17,000 entity rows, 10 feature views, 1,000 features, one string entity key, a bool label).

`write` saves the data and a `views.json` describing the views, which every runner (ours,
pandas, Feast) reads, so all three get exactly the same definitions. Numpy and pandas only,
so the peer's own virtual environment can import it too.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

START = pd.Timestamp("2024-01-01", tz="UTC")
DAYS = 30
# The default shape's three views: name: (join key, number of entities, share of the
# feature rows, features). More views cycle through these keys and shares.
THREE = {
    "driver_stats": ("driver_id", 10_000, 0.4, ("conv_rate", "acc_rate", "trips")),
    "customer_stats": ("customer_id", 10_000, 0.4, ("spend", "visits", "rating")),
    "location_stats": ("location_id", 1_000, 0.2, ("demand", "supply", "surge")),
}


def plan(shape: str, *, views: int, feature_rows: int, features: int, entities: int) -> dict:
    """The views of a shape: name, join key, entities, rows and features of each."""
    specs = []
    if shape == "default":
        bases = list(THREE.items())
        shares = [bases[i % len(bases)][1][2] for i in range(views)]
        for i in range(views):
            name, (key, count, _, names) = bases[i % len(bases)]
            suffix = "" if i < len(bases) else f"_{i // len(bases) + 1}"
            if features == len(names):
                names = tuple(f"{f}{suffix}" for f in names)
            else:
                names = tuple(f"{name}{suffix}_f{j:03d}" for j in range(features))
            specs.append(
                {
                    "name": name + suffix,
                    "key": key,
                    "string_key": False,
                    "entities": count,
                    "rows": int(feature_rows * shares[i] / sum(shares)),
                    "features": list(names),
                }
            )
        return {"shape": shape, "label": False, "distinct_event_times": False, "views": specs}
    if shape == "feast-issue":
        # The entity frame: event time, one string entity key, a bool (the label).
        # Its 10 views share that one key; 1,000 features in all, i.e. 100 per view.
        for i in range(views):
            specs.append(
                {
                    "name": f"view_{i:02d}",
                    "key": "entity_id",
                    "string_key": True,
                    "entities": entities,
                    "rows": feature_rows // views,
                    "features": [f"v{i:02d}_f{j:03d}" for j in range(features)],
                }
            )
        # Feast keeps one row per (key, event time): distinct event times keep every event.
        return {"shape": shape, "label": True, "distinct_event_times": True, "views": specs}
    raise ValueError(f"unknown shape {shape!r}")


def write(folder: Path, *, events: int, spec: dict, seed: int = 0) -> None:
    """events.parquet, one Parquet file per view and views.json under `folder`."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    seconds = DAYS * 86_400
    frame: dict[str, object] = {"row_id": np.arange(events)}
    keys = {v["key"]: v for v in spec["views"]}  # first view of each key sets its entities
    for key, view in keys.items():
        frame[key] = _ids(rng.integers(0, view["entities"], events), view["string_key"])
    if spec["distinct_event_times"]:
        offsets = rng.choice(seconds, size=events, replace=False)
    else:
        offsets = rng.integers(0, seconds, events)
    frame["event_timestamp"] = START + pd.to_timedelta(offsets, unit="s")
    if spec["label"]:
        frame["label"] = rng.random(events) < 0.3
    pd.DataFrame(frame).to_parquet(folder / "events.parquet", index=False)
    for view in spec["views"]:
        n = view["rows"]
        # Microsecond times: no two rows of a key share a time, so results do not depend on
        # tie-breaking, where Feast's file store was seen to disagree with its own docs.
        ts = START + pd.to_timedelta(rng.integers(0, seconds * 1_000_000, n), unit="us")
        rows = {
            view["key"]: _ids(rng.integers(0, view["entities"], n), view["string_key"]),
            "event_timestamp": ts,
            "created": ts + pd.to_timedelta(rng.integers(0, 3_600, n), unit="s"),
        }
        # Real features repeat values (counts, rates, flags): two or three decimals make the
        # Parquet files about as large as the issue reports (37 MB for its 10 views).
        for j, feature in enumerate(view["features"]):
            decimals = 2 + j % 2 if spec["shape"] == "feast-issue" else 6
            rows[feature] = rng.normal(size=n).round(decimals)
        pd.DataFrame(rows).to_parquet(folder / f"{view['name']}.parquet", index=False)
    (folder / "views.json").write_text(json.dumps(spec, indent=1))


def load(folder: Path) -> list[dict]:
    """The views `write` described: dicts with name, key and features."""
    return json.loads((folder / "views.json").read_text())["views"]


def _ids(codes: np.ndarray, string: bool) -> np.ndarray:
    """Integer keys as they are, or as strings like the issue's ("entity-00042")."""
    if not string:
        return codes
    return np.char.add("entity-", np.char.zfill(codes.astype(str), 5)).astype(object)
