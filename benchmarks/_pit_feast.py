"""One Feast run of benchmarks/pit_join.py (its default file offline store): DATA_DIR OUT TTL."""

import json
import resource
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import pandas as pd
from _pit_data import load
from feast import Entity, FeatureStore, FeatureView, Field, FileSource, RepoConfig
from feast.types import Float64

if __name__ == "__main__":
    data, out, ttl = Path(sys.argv[1]), Path(sys.argv[2]), timedelta(hours=float(sys.argv[3]))
    repo = Path(tempfile.mkdtemp(dir=data.parent))  # removed with the benchmark's folder
    config = RepoConfig(
        project="bench",
        registry=str(repo / "registry.db"),
        provider="local",
        repo_path=str(repo),
        entity_key_serialization_version=3,
        online_store={"type": "sqlite", "path": str(repo / "online.db")},
    )
    store = FeatureStore(config=config)
    objects, refs = [], []
    entities = {}
    for view_spec in load(data):
        name, key, features = view_spec["name"], view_spec["key"], view_spec["features"]
        # Views sharing a join key share one entity, as in the repository.
        entity = entities.setdefault(key, Entity(name=key, join_keys=[key]))
        source = FileSource(
            path=str(data / f"{name}.parquet"),
            timestamp_field="event_timestamp",
            created_timestamp_column="created",
        )
        view = FeatureView(
            name=name,
            entities=[entity],
            ttl=ttl,
            source=source,
            schema=[Field(name=f, dtype=Float64) for f in features],
        )
        objects.append(view)
        refs += [f"{name}:{f}" for f in features]
    store.apply([*entities.values(), *objects])
    events = pd.read_parquet(data / "events.parquet")
    print(json.dumps({"timing": "started"}), flush=True)  # the parent clocks a stopped run
    started = time.perf_counter()
    result = store.get_historical_features(entity_df=events, features=refs).to_df()
    seconds = time.perf_counter() - started
    result.to_parquet(out, index=False)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"seconds": seconds, "peak_mb": peak_mb}))
