"""The Feast side of benchmarks/online.py: SPEC_JSON (see online.py) -> one JSON line.

Runs in Feast's own virtual environment. With "load" in the spec, first registers the
view (in the spec's "repo" folder) and materializes the same Parquet file into Feast's
Redis online store. Then times `get_online_features(...).to_dict()` per request.
"""

import json
import sys
import time
from datetime import timedelta
from pathlib import Path

import pandas as pd
from _online_data import KEY, TTL_DAYS, VIEW, feature_names, kinds, requests, summary
from feast import Entity, FeatureStore, FeatureView, Field, FileSource, RepoConfig, ValueType
from feast.types import Float64, Int64, String

TYPES = {"float": Float64, "int": Int64, "str": String}


def _time(store, refs, batches, warmup):
    nanos = []
    clock = time.perf_counter_ns
    for n, ids in enumerate(batches):
        rows = [{KEY: i} for i in ids]
        started = clock()
        store.get_online_features(features=refs, entity_rows=rows).to_dict()
        if n >= warmup:
            nanos.append(clock() - started)
    return nanos


if __name__ == "__main__":
    spec = json.loads(sys.argv[1])
    features = feature_names(spec["features"])
    repo = Path(spec["repo"])
    repo.mkdir(parents=True, exist_ok=True)
    config = RepoConfig(
        project="bench",
        registry=str(repo / "registry.db"),
        provider="local",
        repo_path=str(repo),
        entity_key_serialization_version=3,
        online_store={"type": "redis", "connection_string": spec["redis"]},
    )
    store = FeatureStore(config=config)
    entity = Entity(name="user", join_keys=[KEY], value_type=ValueType.INT64)
    view = FeatureView(
        name=VIEW,
        entities=[entity],
        ttl=timedelta(days=TTL_DAYS),
        source=FileSource(path=spec["data"], timestamp_field="event_timestamp"),
        schema=[Field(name=KEY, dtype=Int64)]
        + [Field(name=f, dtype=TYPES[k]) for f, k in kinds(spec["features"]).items()],
        online=True,
    )
    out: dict = {"cases": {}}
    if spec["load"]:
        started = time.perf_counter()
        store.apply([entity, view])
        stamps = pd.read_parquet(spec["data"], columns=["event_timestamp"])["event_timestamp"]
        store.materialize(
            start_date=(stamps.min() - pd.Timedelta(seconds=1)).to_pydatetime(),
            end_date=(stamps.max() + pd.Timedelta(seconds=1)).to_pydatetime(),
        )
        out["redis_load_seconds"] = time.perf_counter() - started
    refs = [f"{VIEW}:{f}" for f in features]
    for batch in spec["batches"]:
        ids = requests(spec["entities"], spec["warmup"] + spec["calls"], batch, spec["seed"])
        out["cases"][f"redis_{batch}"] = summary(_time(store, refs, ids, spec["warmup"]))
    got = store.get_online_features(
        features=refs, entity_rows=[{KEY: i} for i in spec["sample"]]
    ).to_dict()
    out["samples"] = {
        "redis": {str(i): {f: got[f][n] for f in features} for n, i in enumerate(spec["sample"])}
    }
    print(json.dumps(out))
