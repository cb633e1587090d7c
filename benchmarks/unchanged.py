"""Re-ingesting unchanged flights data: how long until prodml says so, from the CLI.

The issue's target is under a second. There is no peer for this one: it is the time a
nightly job spends on a night when nothing changed. Both runs are whole `prodml data
ingest` processes (Python start-up and imports included), on the real NYC 2013 flights.

    python benchmarks/unchanged.py [--repeat K]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONTRACT = ROOT / "examples" / "flights" / "flights.contract.yaml"
TARGET_SECONDS = 1.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    prodml = str(Path(sys.executable).with_name("prodml"))
    with tempfile.TemporaryDirectory(prefix="prodml-bench-") as tmp:
        from prodml.demo.flights import land_raw

        data = land_raw(Path(tmp, "raw"))["flights"]
        command = [prodml, "data", "ingest", str(data), "-c", str(CONTRACT), "-C", tmp]
        first = _timed(command)
        again = min(_timed(command) for _ in range(args.repeat))
    print(f"\n{'run':28}{'seconds':>10}")
    print(f"{'first ingest (336,776 rows)':28}{first:>10.2f}")
    label = f"unchanged, best of {args.repeat}"
    print(f"{label:28}{again:>10.2f}   target < {TARGET_SECONDS:.0f} s")
    print(
        json.dumps(
            {
                "first_seconds": round(first, 3),
                "unchanged_seconds": round(again, 3),
                "target_ratio": round(TARGET_SECONDS / again, 2),
            }
        )
    )


def _timed(command: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True)
    return time.perf_counter() - started


if __name__ == "__main__":
    main()
