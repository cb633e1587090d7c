"""Online feature lookup: prodml (SQLite and Redis) vs Feast's Python SDK on Redis.

Same data, same requests, same run. One feature view of --entities entities × --features
features (floats, one int, one string) is materialized into prodml's SQLite and Redis
online stores and into Feast's Redis online store. Then each side answers --calls requests
(after --warmup unmeasured ones) of one entity and of --batch entities, and the time of
every call is taken: prodml's `get_online_features` (what serving calls, TTL check
included) and Feast's `get_online_features(...).to_dict()`. Each side runs in its own
process, one after the other; Feast in its own virtual environment, created on first use.
That is repeated for --rounds rounds (fresh processes, alternating which side goes first),
and each figure is the median over rounds, so a burst of other work on the machine during
one side's run does not decide the result. Both sides must return identical values for
sampled entities, or the script fails.

Target: p99 ≤ 2 ms for one entity from Redis, and at least 4× lower p99 than Feast.

    python benchmarks/online.py [--calls N] [--rounds N] [--entities N] [--features N]

Redis databases 13 (prodml) and 14 (Feast) on --redis are flushed before and after.
The last line printed is one JSON object of all figures; each `*_ratio` is Feast's time
over prodml's (greater = prodml faster).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd
import redis

HERE = Path(__file__).resolve().parent
PRODML_DB, FEAST_DB = 13, 14  # the test suite uses 15
TARGET_P99_MS, TARGET_RATIO = 2.0, 4.0
SAMPLE = 25  # entities whose values both sides must agree on


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--calls",
        type=int,
        default=2_000,
        help="timed calls per case and round (default: %(default)s)",
    )
    parser.add_argument(
        "--warmup", type=int, default=200, help="untimed calls first (default: %(default)s)"
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="rounds, each a fresh process per side; medians are reported (default: %(default)s)",
    )
    parser.add_argument(
        "--entities", type=int, default=10_000, help="entities in the view (default: %(default)s)"
    )
    parser.add_argument(
        "--features", type=int, default=50, help="features in the view (default: %(default)s)"
    )
    parser.add_argument(
        "--batch", type=int, default=100, help="entities per large request (default: %(default)s)"
    )
    parser.add_argument(
        "--redis", default="127.0.0.1:6379", help="host:port of Redis (default: %(default)s)"
    )
    parser.add_argument("--seed", type=int, default=0, help="first round's request seed")
    parser.add_argument("--skip-feast", action="store_true", help="prodml only")
    args = parser.parse_args()
    sys.path.insert(0, str(HERE))
    from _online_data import feature_names, write
    from _peer import child, peer_python

    batches = [1, args.batch]
    feast_python = None if args.skip_feast else peer_python()
    host = args.redis
    ours: list[dict] = []
    theirs: list[dict] = []
    _flush(host)
    try:
        with tempfile.TemporaryDirectory(prefix="prodml-online-") as tmp:
            data = Path(tmp, "user_stats.parquet")
            write(data, entities=args.entities, features=args.features, now=pd.Timestamp.now("UTC"))
            spec = {
                "data": str(data),
                "entities": args.entities,
                "features": args.features,
                "calls": args.calls,
                "warmup": args.warmup,
                "batches": batches,
                "sample": list(range(0, args.entities, max(1, args.entities // SAMPLE))),
            }
            prodml_spec = spec | {
                "sqlite": f"sqlite:///{tmp}/online.db",
                "redis": f"redis://{host}/{PRODML_DB}",
            }
            feast_spec = spec | {"redis": f"{host},db={FEAST_DB}", "repo": f"{tmp}/feast"}
            for n in range(args.rounds):
                # Fresh processes each round, in alternating order, so that whatever else
                # the machine is doing meanwhile does not fall on one side only.
                first = {"load": n == 0, "seed": args.seed + n}
                runs = [(sys.executable, "_online_prodml.py", prodml_spec | first, ours)]
                if feast_python is not None:
                    runs.append((feast_python, "_online_feast.py", feast_spec | first, theirs))
                for python, script, round_spec, results in runs[:: 1 if n % 2 == 0 else -1]:
                    print(f"round {n + 1}/{args.rounds}: {script}", file=sys.stderr)
                    results.append(child(python, script, json.dumps(round_spec)))
    finally:
        _flush(host)

    features = feature_names(args.features)
    identical = _check(ours[0], theirs[0] if theirs else None, features, args.entities)
    figures = _figures(args, ours, theirs, batches, identical)
    _table(args, figures, batches, bool(theirs))
    print(json.dumps(figures))


def _flush(host: str) -> None:
    name, _, port = host.partition(":")
    for db in (PRODML_DB, FEAST_DB):
        redis.Redis(host=name, port=int(port or 6379), db=db).flushdb()


def _check(ours: dict, theirs: dict | None, features: list[str], entities: int) -> bool:
    """Every store returns every feature of the sampled entities, and the same values."""
    if ours["written"] != {"sqlite": entities, "redis": entities}:
        raise SystemExit(f"prodml materialized {ours['written']}, expected {entities} each")
    reference = ours["samples"]["redis"]
    sides = {"prodml sqlite": ours["samples"]["sqlite"]}
    if theirs is not None:
        sides["feast redis"] = theirs["samples"]["redis"]
    for key, row in reference.items():
        if row["status"] != "fresh" or any(row[f] is None for f in features):
            raise SystemExit(f"prodml redis: entity {key} is not fully present: {row}")
    for side, sample in sides.items():
        for key, row in reference.items():
            diff = {f: (row[f], sample[key][f]) for f in features if sample[key][f] != row[f]}
            if diff:
                print(f"values identical: no ({side}, entity {key}: {diff})")
                raise SystemExit(f"{side} disagrees with prodml redis on entity {key}")
    print(f"values identical: yes ({len(reference)} sampled entities, {', '.join(sides)})")
    return True


def _figures(args, ours, theirs, batches, identical) -> dict:
    """Per case, the median over rounds of each round's p50 and p99 (ms), and the ratios."""
    figures: dict[str, Any] = {
        "entities": args.entities,
        "features": args.features,
        "calls": args.calls,
        "rounds": args.rounds,
        "values_identical": identical,
    }
    by_round: dict[str, list[float]] = {}
    for prefix, runs in (("", ours), ("feast_", theirs)):
        for case in runs[0]["cases"] if runs else ():
            for p in ("p50", "p99"):
                values = [run["cases"][case][f"{p}_ms"] for run in runs]
                figures[f"{prefix}{case}_{p}_ms"] = round(statistics.median(values), 4)
            by_round[prefix + case] = [round(run["cases"][case]["p99_ms"], 4) for run in runs]
    if theirs:
        for batch in batches:
            for p in ("p50", "p99"):
                key = f"redis_{batch}_{p}"
                ratio = figures[f"feast_{key}_ms"] / figures[f"{key}_ms"]
                figures[f"{key}_ratio"] = round(ratio, 2)
    figures["p99_ms_by_round"] = by_round
    figures["target_met"] = figures["redis_1_p99_ms"] <= TARGET_P99_MS and (
        not theirs or figures["redis_1_p99_ratio"] >= TARGET_RATIO
    )
    return figures


def _table(args, figures: dict, batches: list[int], feast: bool) -> None:
    print(
        f"\nOnline lookup: {args.features} features, {args.entities:,} entities; per case "
        f"{args.calls:,} timed calls (after {args.warmup:,} warm-up) in each of "
        f"{args.rounds} rounds; medians over rounds, in ms"
    )
    head = ("case", "prodml p50", "prodml p99", "Feast p50", "Feast p99", "p99 Feast/prodml")
    print(f"{head[0]:<22}" + "".join(f"{h:>12}" for h in head[1:5]) + f"{head[5]:>18}")
    for store in ("sqlite", "redis"):
        for batch in batches:
            case = f"{store}_{batch}"
            label = f"{store}, {batch} entit{'y' if batch == 1 else 'ies'}"
            cells = [
                figures.get(f"{side}{case}_{p}_ms")
                for side in ("", "feast_")
                for p in ("p50", "p99")
            ]
            ratio = figures.get(f"{case}_p99_ratio")
            print(
                f"{label:<22}"
                + "".join(f"{c:>12.3f}" if c is not None else f"{'—':>12}" for c in cells)
                + (f"{ratio:>17.1f}×" if ratio is not None else f"{'—':>18}")
            )
    floor = [figures["ping_p50_ms"], figures["ping_p99_ms"]]
    print(f"{'redis PING (floor)':<22}" + "".join(f"{c:>12.3f}" for c in floor))
    got = f"got {figures['redis_1_p99_ms']:.3f} ms"
    if feast:
        got += f" and {figures['redis_1_p99_ratio']:.1f}×"
    print(
        f"target: redis 1-entity p99 ≤ {TARGET_P99_MS:.0f} ms and ≥ {TARGET_RATIO:.0f}× lower "
        f"than Feast's ({got}): {'met' if figures['target_met'] else 'NOT met'}"
    )


if __name__ == "__main__":
    main()
