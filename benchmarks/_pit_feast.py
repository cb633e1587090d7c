"""One Feast run of benchmarks/pit_join.py (its default file offline store): DATA_DIR OUT TTL."""

import json
import resource
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import pandas as pd
from _pit_data import VIEWS
from feast import Entity, FeatureStore, FeatureView, Field, FileSource, RepoConfig
from feast.types import Float64

if __name__ == "__main__":
    data, out, ttl = Path(sys.argv[1]), Path(sys.argv[2]), timedelta(hours=float(sys.argv[3]))
    repo = Path(tempfile.mkdtemp())
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
    for name, (key, _, _, features) in VIEWS.items():
        entity = Entity(name=key, join_keys=[key])
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
        objects += [entity, view]
        refs += [f"{name}:{f}" for f in features]
    store.apply(objects)
    events = pd.read_parquet(data / "events.parquet")
    started = time.perf_counter()
    result = store.get_historical_features(entity_df=events, features=refs).to_df()
    seconds = time.perf_counter() - started
    result.to_parquet(out, index=False)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"seconds": seconds, "peak_mb": peak_mb}))
