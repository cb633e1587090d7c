"""Evidently's side of the drift benchmark (run in its own virtual environment):
`python _drift_evidently.py FOLDER`. DataDriftPreset over every column, its defaults.
Prints one JSON line: seconds, memory and every column's result."""

import json
import resource
import sys
import time
from pathlib import Path

import pandas as pd
from evidently import DataDefinition, Dataset, Report
from evidently.presets import DataDriftPreset

folder = Path(sys.argv[1])
reference = pd.read_parquet(folder / "reference.parquet")
current = pd.read_parquet(folder / "current.parquet")
numeric = [c for c in reference.columns if pd.api.types.is_numeric_dtype(reference[c])]
categorical = [c for c in reference.columns if c not in numeric]
loaded_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print("start", flush=True)
started = time.perf_counter()
definition = DataDefinition(numerical_columns=numeric, categorical_columns=categorical)
snapshot = Report([DataDriftPreset()]).run(
    Dataset.from_pandas(current, data_definition=definition),
    Dataset.from_pandas(reference, data_definition=definition),
)
result = snapshot.dict()
seconds = time.perf_counter() - started
columns = {}
for metric in result["metrics"]:
    config = metric["config"]
    if config.get("type", "").endswith("ValueDrift"):
        value = float(metric["value"])
        columns[config["column"]] = [config["method"], value, value >= config["threshold"]]
print(
    json.dumps(
        {
            "seconds": seconds,
            "loaded_mb": loaded_mb,
            "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "columns": columns,
        }
    )
)
