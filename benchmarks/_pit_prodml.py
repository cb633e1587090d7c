"""One prodml run of benchmarks/pit_join.py: DATA_DIR OUT_PARQUET TTL_HOURS.

Timed: get_training_set from the Parquet files to a DataFrame, as the pandas runner's time
is; writing OUT_PARQUET (for the identity check) is not timed.
"""

import json
import resource
import sys
import time
from datetime import timedelta
from pathlib import Path

from _pit_data import load

from prodml.features import Entity, FeatureService, FeatureView, get_training_set

if __name__ == "__main__":
    data, out, ttl = Path(sys.argv[1]), Path(sys.argv[2]), timedelta(hours=float(sys.argv[3]))
    views = tuple(
        FeatureView(
            view["name"],
            entity=Entity(view["key"], join_keys=(view["key"],)),
            source=str(data / f"{view['name']}.parquet"),
            timestamp="event_timestamp",
            features=tuple(view["features"]),
            ttl=ttl,
            created_timestamp="created",
        )
        for view in load(data)
    )
    started = time.perf_counter()
    result = get_training_set(
        data / "events.parquet",
        FeatureService("bench", views=views),
        event_timestamp="event_timestamp",
    )
    seconds = time.perf_counter() - started
    result.to_parquet(out, index=False)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"seconds": seconds, "peak_mb": peak_mb}))
