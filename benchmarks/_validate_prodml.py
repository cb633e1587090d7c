"""One prodml run of benchmarks/validate.py.

_validate_prodml.py DATA WORKDIR   ingest DATA (read, check, quarantine, snapshot, profile)
_validate_prodml.py DATA           only the checks, on the frame already in memory (as pandera)
"""

import json
import resource
import sys
import time

import pandas as pd
from _batch import CATEGORIES, WORDS

from prodml.data import ColumnContract, Contract, open_source
from prodml.data.contract import RowCount
from prodml.data.validate import validate_frame
from prodml.workspace import Workspace


def contract() -> Contract:
    def col(kind: str, **rules: object) -> ColumnContract:
        return ColumnContract(type=kind, nullable=False, **rules)

    columns = {"id": col("integer")}
    columns |= {f"num{i}": col("float", min=-1e6, max=1e6) for i in range(8)}
    columns |= {f"int{i}": col("integer", min=0, max=999) for i in range(4)}
    columns |= {f"cat{i}": col("string", allowed=CATEGORIES) for i in range(4)}
    columns |= {
        "flag": col("boolean"),
        "ts": col("timestamp"),
        "word": col("string", allowed=WORDS),
    }
    return Contract(
        name="bench", columns=columns, keys=["id"], event_timestamp="ts", rows=RowCount(min=1)
    )


def ingest(data: str, workdir: str) -> tuple[float, int]:
    rules = contract()
    ws = Workspace.open(workdir)
    ws.metadata  # noqa: B018 - open the store before the clock starts
    started = time.perf_counter()
    result = ws.ingest(open_source(data), rules, chunk_rows=250_000)
    return time.perf_counter() - started, result.report.rejected


def checks_only(data: str) -> tuple[float, int]:
    frame = pd.read_parquet(data)
    rules = contract()
    validate_frame(frame.head(1000), rules)  # warm-up, untimed, as on pandera's side
    best = float("inf")
    for _ in range(2):  # the better of two, as on pandera's side
        started = time.perf_counter()
        _, rejected, _ = validate_frame(frame, rules)
        best = min(best, time.perf_counter() - started)
    return best, len(rejected)


if __name__ == "__main__":
    seconds, rejected = ingest(*sys.argv[1:3]) if len(sys.argv) > 2 else checks_only(sys.argv[1])
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"seconds": seconds, "rejected": rejected, "peak_mb": peak_mb}))
