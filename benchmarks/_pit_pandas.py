"""One pandas run of benchmarks/pit_join.py (merge_asof per view): DATA_DIR OUT TTL_HOURS.

Timed: reading the Parquet files and joining, to a DataFrame; writing OUT is not timed.
"""

import json
import resource
import sys
import time
from pathlib import Path

import pandas as pd
from _pit_data import load

if __name__ == "__main__":
    data, out, ttl = Path(sys.argv[1]), Path(sys.argv[2]), pd.Timedelta(hours=float(sys.argv[3]))
    specs = load(data)
    # The clock starts before the files are read: prodml's time includes reading them too,
    # so both sides go from the same Parquet files to a DataFrame in memory.
    started = time.perf_counter()
    events = pd.read_parquet(data / "events.parquet")
    views = {view["name"]: pd.read_parquet(data / f"{view['name']}.parquet") for view in specs}
    result = events.sort_values("event_timestamp")
    for view in specs:
        key, features = view["key"], view["features"]
        rows = (
            views[view["name"]]
            .sort_values("created")
            .drop_duplicates([key, "event_timestamp"], keep="last")
        )
        rows = rows.rename(columns={"event_timestamp": "_ts"}).sort_values("_ts")
        result = pd.merge_asof(
            result,
            rows[[key, "_ts", *features]],
            left_on="event_timestamp",
            right_on="_ts",
            by=key,
            direction="backward",
            tolerance=ttl,
        )
        result = result.drop(columns="_ts")
    seconds = time.perf_counter() - started
    result.to_parquet(out, index=False)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"seconds": seconds, "peak_mb": peak_mb}))
