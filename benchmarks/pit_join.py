"""Point-in-time training set: prodml (DuckDB ASOF) vs Feast's default offline store.

Same data, same definitions, same run: events against three feature views (TTL, created-
timestamp ties). Feast runs in its own virtual environment, created here on first use.
The script checks that both give identical values, and prints time and peak memory.

    python benchmarks/pit_join.py [--events N] [--feature-rows N] [--ttl-hours H]

Defaults are the issue's shape (1,000,000 events, 10,000,000 feature rows); smaller
shapes run in seconds for a quick check.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import venv
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
PEER_ENV = HERE / ".venvs" / "feast"
TARGET_RATIO = 10.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--feature-rows", type=int, default=10_000_000)
    parser.add_argument("--ttl-hours", type=float, default=24.0)
    args = parser.parse_args()
    sys.path.insert(0, str(HERE))
    from _pit_data import VIEWS, write

    feast_python = _peer_python()
    with tempfile.TemporaryDirectory(prefix="prodml-pit-") as tmp:
        data = Path(tmp, "data")
        write(data, events=args.events, feature_rows=args.feature_rows)
        ttl = str(args.ttl_hours)
        ours = _child(
            sys.executable, "_pit_prodml.py", str(data), str(Path(tmp, "prodml.parquet")), ttl
        )
        theirs = _child(
            feast_python, "_pit_feast.py", str(data), str(Path(tmp, "feast.parquet")), ttl
        )
        features = [f for _, _, _, fs in VIEWS.values() for f in fs]
        identical = _same(Path(tmp, "prodml.parquet"), Path(tmp, "feast.parquet"), features)
    ratio = theirs["seconds"] / ours["seconds"]
    print(f"\nPoint-in-time join: {args.events:,} events × 3 views of {args.feature_rows:,} rows")
    print(f"{'':10}{'seconds':>10}{'peak MB':>10}")
    for side, result in (("prodml", ours), ("feast", theirs)):
        print(f"{side:10}{result['seconds']:>10.2f}{result['peak_mb']:>10.0f}")
    print(
        f"prodml: {ratio:.1f}× Feast's speed (target ≥ {TARGET_RATIO:.0f}×); "
        f"identical values: {identical}"
    )
    print(
        json.dumps(
            {
                "events": args.events,
                "feature_rows": args.feature_rows,
                "prodml_seconds": round(ours["seconds"], 3),
                "feast_seconds": round(theirs["seconds"], 3),
                "prodml_peak_mb": round(ours["peak_mb"]),
                "feast_peak_mb": round(theirs["peak_mb"]),
                "identical": identical,
                "speedup_ratio": round(ratio, 2),
            }
        )
    )


def _same(ours: Path, theirs: Path, features: list[str]) -> bool:
    """Identical values on every event Feast returns, and Feast returns exactly the events
    that found a row in every view (its file offline store drops the others; we keep them
    with missing values)."""
    a = pd.read_parquet(ours)
    b = pd.read_parquet(theirs)
    both = a.merge(b, on="row_id", suffixes=("", "_feast"))
    complete = set(a.loc[a[features].notna().all(axis=1), "row_id"])
    if complete != set(b["row_id"]):
        return False
    return all(
        np.allclose(
            both[f].to_numpy(float),
            both[f + "_feast"].to_numpy(float),
            equal_nan=True,
            rtol=0,
            atol=1e-9,
        )
        for f in features
    )


def _peer_python() -> str:
    python = PEER_ENV / "bin" / "python"
    if not python.exists():
        print(f"Creating {PEER_ENV} with Feast (first run only)…", file=sys.stderr)
        venv.create(PEER_ENV, with_pip=True)
        subprocess.run(
            [str(python), "-m", "pip", "install", "-q", "feast", "pyarrow", "pandas"], check=True
        )
    return str(python)


def _child(python: str, script: str, *args: str) -> dict:
    command = [python, str(HERE / script), *args]
    done = subprocess.run(command, capture_output=True, text=True, check=False, cwd=HERE)
    if done.returncode != 0:
        killed = " (killed: out of memory?)" if done.returncode in (-9, 137) else ""
        raise SystemExit(f"{script} exited {done.returncode}{killed}:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


if __name__ == "__main__":
    main()
