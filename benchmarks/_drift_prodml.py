"""prodml's side of the drift benchmark: `python _drift_prodml.py FOLDER full|window`.

full: build the reference from the reference table, then compare the current table.
window: load the reference saved by a full run, then compare the current table.
Prints one JSON line: seconds (timed part), memory and every column's result."""

import json
import resource
import sys
import time
from pathlib import Path

import pandas as pd

from prodml.monitor.compare import compare
from prodml.monitor.reference import Reference

folder, mode = Path(sys.argv[1]), sys.argv[2]
saved = folder / "reference-prodml.npz"
current = pd.read_parquet(folder / "current.parquet")
if mode == "full":
    reference_rows = pd.read_parquet(folder / "reference.parquet")
loaded_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print("start", flush=True)
started = time.perf_counter()
reference = Reference.from_frame(reference_rows) if mode == "full" else Reference.load(saved)
# Evidently's default threshold (prodml's own floor is 0.05), so both judge by one rule.
found = compare(reference, current, thresholds=dict.fromkeys(reference.columns, 0.1))
seconds = time.perf_counter() - started
if mode == "full":
    reference.save(saved)
print(
    json.dumps(
        {
            "seconds": seconds,
            "loaded_mb": loaded_mb,
            "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "columns": {d.feature: [d.method, d.statistic, d.drifted] for d in found},
        }
    )
)
