"""Validate 1,000,000 rows × 20 columns (1 % bad): prodml vs pandera, same data, same run.

Two prodml figures: the whole ingest (read the Parquet file, type and check every cell,
quarantine the bad rows with reasons, write the snapshot and its profile), and the checks
alone on the frame already in memory. pandera (lazy mode, collecting failure cases) only
checks the in-memory frame, so the first ratio favours the peer and the second is like
for like.
pandera runs in its own virtual environment, created here on first use. Each side runs
in a fresh process, so peak memory (max RSS) is its own; for the checks, both sides first
validate 1,000 rows untimed (first-call set-up) and report the better of two timed runs,
since a fresh process's first pass over new memory pays page faults that vary run to run.

    python benchmarks/validate.py [--rows N] [--repeat K]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import venv
from pathlib import Path

HERE = Path(__file__).resolve().parent
PEER_ENV = HERE / ".venvs" / "pandera"
TARGET_SECONDS = 2.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3, help="runs per side; the best counts")
    args = parser.parse_args()

    sys.path.insert(0, str(HERE))
    from _batch import make_batch

    peer_python = _peer_python()
    with tempfile.TemporaryDirectory(prefix="prodml-bench-") as tmp:
        data = Path(tmp, "batch.parquet")
        make_batch(args.rows).to_parquet(data)
        runs: dict[str, list[dict]] = {"prodml": [], "prodml checks": [], "pandera": []}
        for i in range(args.repeat):
            work = str(Path(tmp, f"ws{i}"))
            runs["prodml"].append(_child(sys.executable, "_validate_prodml.py", str(data), work))
            runs["prodml checks"].append(_child(sys.executable, "_validate_prodml.py", str(data)))
            runs["pandera"].append(_child(peer_python, "_validate_pandera.py", str(data)))
    best = {side: min(r, key=lambda x: x["seconds"]) for side, r in runs.items()}
    ratio = best["pandera"]["seconds"] / best["prodml"]["seconds"]
    like_for_like = best["pandera"]["seconds"] / best["prodml checks"]["seconds"]
    print(f"\nValidate {args.rows:,} rows × 20 columns (1 % bad), best of {args.repeat}:")
    print(f"{'':16}{'seconds':>10}{'peak MB':>10}{'rows rejected':>15}")
    for side, b in best.items():
        print(f"{side:16}{b['seconds']:>10.2f}{b['peak_mb']:>10.0f}{b['rejected']:>15,}")
    ours = best["prodml"]["seconds"]
    print(
        f"prodml ingest (read, check, quarantine, snapshot, profile): {ours:.2f} s (target "
        f"< {TARGET_SECONDS:.0f} s). The same checks, like for like: {like_for_like:.1f}× "
        f"pandera's speed (target ≥ 5×); the whole ingest is {ratio:.1f}× pandera's checks alone."
    )
    print(
        json.dumps(
            {
                "rows": args.rows,
                "prodml_seconds": round(best["prodml"]["seconds"], 3),
                "prodml_checks_seconds": round(best["prodml checks"]["seconds"], 3),
                "pandera_seconds": round(best["pandera"]["seconds"], 3),
                "prodml_peak_mb": round(best["prodml"]["peak_mb"]),
                "pandera_peak_mb": round(best["pandera"]["peak_mb"]),
                "prodml_rejected": best["prodml"]["rejected"],
                "pandera_rejected": best["pandera"]["rejected"],
                "speedup_ratio": round(ratio, 2),
                "checks_only_speedup_ratio": round(like_for_like, 2),
                "target_seconds_ratio": round(TARGET_SECONDS / best["prodml"]["seconds"], 2),
            }
        )
    )


def _peer_python() -> str:
    python = PEER_ENV / "bin" / "python"
    if not python.exists():
        print(f"Creating {PEER_ENV} with pandera (first run only)…", file=sys.stderr)
        venv.create(PEER_ENV, with_pip=True)
        packages = ["pandera[pandas]", "pyarrow"]
        subprocess.run([str(python), "-m", "pip", "install", "-q", *packages], check=True)
    return str(python)


def _child(python: str, script: str, *args: str) -> dict:
    command = [python, str(HERE / script), *args]
    done = subprocess.run(command, capture_output=True, text=True, check=False, cwd=HERE)
    if done.returncode != 0:
        raise SystemExit(f"{python} failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


if __name__ == "__main__":
    main()
