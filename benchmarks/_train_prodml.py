"""prodml's side of benchmarks/train.py: DATA WORKDIR.

Ingests DATA (timed apart: validation against the contract, the snapshot), then runs the
no-Python `prodml train --data bench --label converted` in this process and prints, as one
JSON line, the seconds of each and of every pipeline step.
"""

import json
import sys
import time
from pathlib import Path

from _train_data import LABEL, TIME, VALID_FROM

from prodml.data import infer_contract, open_source
from prodml.settings import TrainingSettings
from prodml.train.table import RECIPE
from prodml.workflow import table_recipe, train_and_register
from prodml.workspace import Workspace

if __name__ == "__main__":
    data, workdir = sys.argv[1], Path(sys.argv[2])
    with Workspace.open(workdir) as ws:
        started = time.perf_counter()
        source = open_source(data)
        contract = infer_contract(source, "bench", now=ws.clock.now())
        ws.ingest(open_source(data), contract)
        ingest_seconds = time.perf_counter() - started
        # A new workspace's first use creates MLflow's database (seconds of migrations,
        # once per project): done before the clock starts, as any later training finds it.
        started = time.perf_counter()
        ws.tracker.tracking_uri, ws.registry.client.search_registered_models()
        setup_seconds = time.perf_counter() - started
        # The timed part: what `prodml train --data bench --label converted` runs.
        started = time.perf_counter()
        options = TrainingSettings(data="bench", label=LABEL, time=TIME, valid_from=VALID_FROM)
        recipe, inputs, config = table_recipe(ws, options)
        registered = train_and_register(
            ws, recipe, inputs=inputs, recorded_as=RECIPE, config=config
        )
        seconds = time.perf_counter() - started
    result = registered.result
    assert result is not None
    steps = {r.name: round(r.seconds, 3) for r in result.pipeline.records}
    print(
        json.dumps(
            {
                "seconds": seconds,
                "ingest_seconds": ingest_seconds,
                "setup_seconds": setup_seconds,
                "steps": steps,
                "rounds": result.models["lightgbm"].params["num_boost_round"],
                "auc": result.evaluations["lightgbm"]["metrics"]["roc_auc"],
                "passed": registered.passed,
            }
        )
    )
