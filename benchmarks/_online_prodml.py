"""The prodml side of benchmarks/online.py: SPEC_JSON (see online.py) -> one JSON line.

With "load" in the spec, first materializes the view into SQLite and Redis. Then times
`get_online_features` (what the serving endpoint calls) per request, for each store and
batch size, and reads the sampled entities back for the value check. Also times a bare
Redis PING from a plain redis-py client: the round trip any Python client pays, so the
part of a tail that comes from the machine (a busy CPU delaying Redis or us) shows.
"""

import json
import sys
import time
from datetime import UTC, datetime, timedelta

import redis
from _online_data import KEY, TTL_DAYS, VIEW, feature_names, requests, summary

from prodml.features import Entity, FeatureService, FeatureView
from prodml.features.lookup import get_online_features
from prodml.features.materialize import materialize
from prodml.features.online import open_online_store


def _time(store, service, batches, warmup):
    nanos = []
    clock = time.perf_counter_ns
    for n, ids in enumerate(batches):
        rows = [{KEY: i} for i in ids]
        started = clock()
        get_online_features(store, service, rows, now=datetime.now(UTC))
        if n >= warmup:
            nanos.append(clock() - started)
    return nanos


if __name__ == "__main__":
    spec = json.loads(sys.argv[1])
    features = feature_names(spec["features"])
    view = FeatureView(
        VIEW,
        entity=Entity("user", join_keys=(KEY,)),
        source=spec["data"],
        timestamp="event_timestamp",
        features=tuple(features),
        ttl=timedelta(days=TTL_DAYS),
    )
    service = FeatureService("bench", views=(view,))
    stores = {
        "sqlite": open_online_store(spec["sqlite"]),
        "redis": open_online_store(spec["redis"]),
    }
    out: dict = {"cases": {}, "samples": {}, "written": {}}
    if spec["load"]:
        for name, store in stores.items():
            started = time.perf_counter()
            out["written"][name] = materialize(view, store)
            out[f"{name}_load_seconds"] = time.perf_counter() - started
    for name, store in stores.items():
        for batch in spec["batches"]:
            ids = requests(spec["entities"], spec["warmup"] + spec["calls"], batch, spec["seed"])
            out["cases"][f"{name}_{batch}"] = summary(_time(store, service, ids, spec["warmup"]))
        rows = [{KEY: i} for i in spec["sample"]]
        got = get_online_features(store, service, rows, now=datetime.now(UTC))
        out["samples"][name] = {
            str(i): {f: r[f] for f in features} | {"status": r[f"{VIEW}__status"]}
            for i, r in zip(spec["sample"], got, strict=True)
        }
    ping = redis.Redis.from_url(spec["redis"]).ping
    nanos = []
    for n in range(spec["warmup"] + spec["calls"]):
        started = time.perf_counter_ns()
        ping()
        if n >= spec["warmup"]:
            nanos.append(time.perf_counter_ns() - started)
    out["cases"]["ping"] = summary(nanos)
    for store in stores.values():
        store.close()
    print(json.dumps(out))
