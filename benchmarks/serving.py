"""Serving speed: prodml's API against `mlflow models serve`, BentoML and a bare uvicorn
endpoint, on the same LightGBM model (500 trees, 20 features) and the same row; and
prodml enriching each request from its online store (SQLite, and Redis when one answers
on 127.0.0.1:6379): the request sends a random one of 10,000 customer keys and 5 of the
features, the other 15 are looked up — against the same server given all 20.

Each server runs alone on core 0 (`taskset`), one worker, prodml with its prediction log
on (and Redis, when enriching from it, on core 0 too); the load comes from another
process on core 1 over loopback:

- saturation: wrk, 32 connections, requests per second;
- one client: wrk, one connection, p50 and p99;
- half of saturation: an open-loop generator (`_openloop.py`) at half the server's own
  saturation rate, p99 counted from each request's scheduled time.

Then in-process: batch scoring of 1,000,000 rows Parquet → Parquet (`prodml score`'s code)
against a bare `booster.predict` on the same numpy array, and a one-row predict against
`booster.predict` on one row.

With --breakdown, prodml's server is also measured at saturation doing only part of a
request's work (HTTP alone, + the model, + validation and the rest, + the log's write),
to show where a request's time goes.

    python benchmarks/serving.py [--seconds 10] [--skip-mlflow] [--skip-bentoml] [--breakdown]

Needs wrk (Debian: apt-get install wrk). BentoML runs in its own virtual environment,
created under benchmarks/.venvs/bentoml on first use; MLflow is prodml's own dependency.
"""

from __future__ import annotations

import argparse
import atexit
import json
import math
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import lightgbm as lgb
import numpy as np
import pandas as pd
from _load import SERVER_CORE, openloop, serving, wrk
from _peer import HERE, peer_python
from _serving_data import FEATURES, STORED, TREES, customer_key, fill_online_store, rows, train

BENTOML_ENV = HERE / ".venvs" / "bentoml"
STAGES = ("constant", "predict", "answer", "full")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="per load measurement")
    parser.add_argument("--batch-rows", type=int, default=1_000_000)
    parser.add_argument("--skip-mlflow", action="store_true")
    parser.add_argument("--skip-bentoml", action="store_true")
    parser.add_argument(
        "--breakdown",
        action="store_true",
        help="also measure prodml's server doing only part of a request's work",
    )
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is needed for the load: apt-get install wrk")
    work = Path(tempfile.mkdtemp(prefix="prodml-serving-"))
    model_file = train(work)
    booster = lgb.Booster(model_file=str(model_file))
    candidates = rows(100, seed=3)
    # A row without missing values: MLflow's pyfunc refuses nulls without a signature.
    row = candidates[~np.isnan(candidates).any(axis=1)][0]
    expected = float(booster.predict(row.reshape(1, -1), num_threads=1)[0])
    servers = _servers(work, model_file, row, args)
    figures: dict[str, dict] = {}
    for name, server in servers.items():
        print(f"… {name}", file=sys.stderr)
        figures[name] = _measure(name, server, expected, work, args.seconds)
        print(f"  {json.dumps(figures[name])}", file=sys.stderr)
    if args.breakdown:
        figures["breakdown"] = _breakdown(servers["prodml"], work, args.seconds)
    figures["batch"] = _batch(work, model_file, args.batch_rows)
    figures["single_row"] = _single_row(work, booster, row)
    _table(figures)
    print(json.dumps(_summary(figures)))


def _servers(work: Path, model_file: Path, row: np.ndarray, args) -> dict[str, dict]:
    values = [None if math.isnan(v) else float(v) for v in row]
    prodml_dir = _prodml_model(work, model_file)
    out = {
        "bare": {
            "command": [sys.executable, str(HERE / "_serving_bare.py"), "{port}"],
            "path": "/",
            "body": {"rows": [values]},
            "answer": None,
        },
        "prodml": {
            "command": [
                sys.executable,
                str(HERE / "_serving_prodml.py"),
                str(prodml_dir),
                str(work / "predictions"),
                "{port}",
            ],
            "path": "/v1/predict",
            "body": {"rows": [dict(zip(FEATURES, values, strict=True))]},
            "answer": lambda body: body["predictions"][0]["probability"],
        },
    }
    for store, url in _online_stores(work):
        fill_online_store(url, work, row)
        sent = dict(zip(FEATURES[STORED:], values[STORED:], strict=True))
        keyed = {"customer": customer_key(0)[0], **sent}
        out[f"prodml+{store}"] = {
            **out["prodml"],
            "command": [
                *out["prodml"]["command"][:3],
                str(work / f"predictions-{store}"),
                "{port}",
            ],
            "body": {"rows": [keyed]},
            "env": {"BENCH_ONLINE_URL": url},
            "random_key": customer_key(0)[0],  # wrk sends a random customer each request
        }
    if not args.skip_mlflow:
        import mlflow.lightgbm

        mlflow_dir = work / "mlflow-model"
        mlflow.lightgbm.save_model(lgb.Booster(model_file=str(model_file)), str(mlflow_dir))
        mlflow_bin = str(Path(sys.executable).with_name("mlflow"))
        out["mlflow"] = {
            "command": [
                mlflow_bin,
                "models",
                "serve",
                "-m",
                str(mlflow_dir),
                "--env-manager",
                "local",
                "-h",
                "127.0.0.1",
                "-p",
                "{port}",
                "-w",
                "1",
            ],
            "path": "/invocations",
            "body": {"dataframe_split": {"columns": FEATURES, "data": [values]}},
            "answer": lambda body: body["predictions"][0],
        }
    if not args.skip_bentoml:
        python = peer_python(BENTOML_ENV, ("bentoml", "lightgbm", "numpy"))
        out["bentoml"] = {
            "command": [
                str(Path(python).with_name("bentoml")),
                "serve",
                "_serving_bentoml:Scorer",
                "--host",
                "127.0.0.1",
                "--port",
                "{port}",
            ],
            "path": "/predict",
            "body": {"rows": [values]},
            "answer": lambda body: body[0],
            "env": {"BENCH_MODEL_FILE": str(model_file)},
        }
    return out


def _online_stores(work: Path) -> list[tuple[str, str]]:
    """The online stores to enrich from: SQLite always; Redis when one answers (the same
    server the tests use, database 15)."""
    stores = [("sqlite", f"sqlite:///{work / 'online.db'}")]
    try:
        import redis

        client = redis.Redis(host="127.0.0.1", port=6379, db=15, socket_timeout=1)
        _pin_redis(client.info("server")["process_id"])
        stores.append(("redis", "redis://127.0.0.1:6379/15"))
    except Exception as exc:  # no Redis here: the SQLite case alone, said so
        print(f"… no Redis at 127.0.0.1:6379 ({exc}); enriching from SQLite only", file=sys.stderr)
    return stores


def _pin_redis(pid: int) -> None:
    """Run Redis on the server's core for this run (put back at exit): on the load's core
    it would take the load generator's CPU, and its clock would count Redis's work as the
    server's latency; on the server's core its work is charged to the server, as an
    in-process SQLite lookup is."""
    before = os.sched_getaffinity(pid)
    try:
        os.sched_setaffinity(pid, {int(SERVER_CORE)})
    except OSError as exc:
        print(f"… Redis (pid {pid}) stays on cores {sorted(before)}: {exc}", file=sys.stderr)
        return
    atexit.register(os.sched_setaffinity, pid, before)
    print(f"… Redis (pid {pid}) runs on core {SERVER_CORE} with the server during this "
          f"run (it was on {sorted(before)})", file=sys.stderr)  # fmt: skip


def _prodml_model(work: Path, model_file: Path) -> Path:
    from prodml.train.encoding import FeatureSpec, TabularEncoder
    from prodml.train.model import TrainedModel

    folder = work / "prodml-model"
    encoder = TabularEncoder(FeatureSpec((), tuple(FEATURES)))
    TrainedModel("lightgbm", encoder, lgb.Booster(model_file=str(model_file))).save(folder)
    return folder


def _measure(name: str, server: dict, expected: float, work: Path, seconds: float) -> dict:
    with serving(name, server, work) as (port, lua, answer):
        if server["answer"] is not None:
            got = float(server["answer"](answer))
            if abs(got - expected) > 1e-9:
                raise SystemExit(f"{name} answered {got}, the booster {expected}")
        wrk(lua, port, server["path"], connections=4, seconds=2)  # warm-up
        saturation = wrk(lua, port, server["path"], connections=32, seconds=seconds)
        one = wrk(lua, port, server["path"], connections=1, seconds=seconds)
        rate = saturation["rps"] / 2
        half = openloop(port, server["path"], work / f"{name}.json", rate, seconds)
    return {
        "rps": saturation["rps"],
        "one_client_p50_ms": one["p50_ms"],
        "one_client_p99_ms": one["p99_ms"],
        "half_rate": rate,
        "half_p99_ms": half["p99_ms"],
        "half_achieved": half["achieved_rate"],
        "errors": saturation["errors"] + half["errors"],
    }


def _breakdown(server: dict, work: Path, seconds: float) -> dict[str, float]:
    """Saturation requests/s of prodml's server keeping only part of a request's work
    (see `_serving_prodml.py`): where the time of a request goes."""
    out = {}
    for stage in STAGES:
        staged = {**server, "command": [*server["command"], stage]}
        staged["command"][3] = str(work / f"predictions-{stage}")  # a log of its own
        print(f"… prodml, {stage}", file=sys.stderr)
        with serving(f"prodml-{stage}", staged, work) as (port, lua, _):
            wrk(lua, port, server["path"], connections=4, seconds=2)  # warm-up
            out[stage] = wrk(lua, port, server["path"], connections=32, seconds=seconds)["rps"]
    return out


def _batch(work: Path, model_file: Path, n: int) -> dict:
    """Parquet → Parquet through `prodml score`'s code, against booster.predict on the
    same rows already in a numpy array (no reading, no writing)."""
    from prodml.registry import ModelVersionInfo
    from prodml.serve import PredictionLog, Predictor, score_file
    from prodml.train.model import TrainedModel

    x = rows(n, seed=4)
    source = work / "batch.parquet"
    pd.DataFrame(x, columns=FEATURES).to_parquet(source)
    booster = lgb.Booster(model_file=str(model_file))
    started = time.perf_counter()
    booster.predict(x)
    bare = time.perf_counter() - started
    model = TrainedModel.load(work / "prodml-model")
    predictor = Predictor(model, ModelVersionInfo("bench", "1", "run", "", ()))
    started = time.perf_counter()
    score_file(predictor, source, work / "scores.parquet")
    ours = time.perf_counter() - started
    with PredictionLog(work / "batch-log") as log:
        started = time.perf_counter()
        score_file(predictor, source, work / "scores-logged.parquet", log=log)
        logged = time.perf_counter() - started
    # The Ray engine on a local cluster of this machine's two cores: what a job pays for
    # being able to outgrow one machine (actor start-up included).
    started = time.perf_counter()
    score_file(predictor, source, work / "scores-ray.parquet", engine="ray")
    on_ray = time.perf_counter() - started
    scored = pd.read_parquet(work / "scores.parquet")["score"].to_numpy()
    same_on_ray = bool(
        np.array_equal(pd.read_parquet(work / "scores-ray.parquet")["score"].to_numpy(), scored)
    )
    same = bool(np.array_equal(scored[:1000], booster.predict(x[:1000])))
    return {
        "rows": n,
        "bare_rows_per_s": n / bare,
        "prodml_rows_per_s": n / ours,
        "prodml_logged_rows_per_s": n / logged,
        "prodml_ray_rows_per_s": n / on_ray,
        "identical": same and same_on_ray,
    }


def _single_row(work: Path, booster: lgb.Booster, row: np.ndarray) -> dict:
    from prodml.registry import ModelVersionInfo
    from prodml.serve import Predictor
    from prodml.train.model import TrainedModel

    predictor = Predictor(
        TrainedModel.load(work / "prodml-model"), ModelVersionInfo("bench", "1", "r", "", ())
    )
    as_dict = [
        {f: (None if math.isnan(v) else float(v)) for f, v in zip(FEATURES, row, strict=True)}
    ]
    matrix = row.reshape(1, -1)

    def best(call, n=5000) -> float:
        timings = []
        for _ in range(3):
            started = time.perf_counter()
            for _ in range(n):
                call()
            timings.append((time.perf_counter() - started) / n)
        return min(timings) * 1e6

    on_lightgbm = best(lambda: predictor.predict(as_dict))
    compiling = predictor.compile_in_background(work / "compiled")
    if compiling is not None:
        compiling.join()
    return {
        "booster_us": best(lambda: booster.predict(matrix, num_threads=1)),
        "prodml_us": best(lambda: predictor.predict(as_dict)),
        "prodml_lightgbm_path_us": on_lightgbm,
        "engine": predictor.engine,
    }


def _summary(f: dict) -> dict:
    out: dict[str, float | int | bool] = {"trees": TREES, "features": len(FEATURES)}
    for name in ("bare", "prodml", "prodml+sqlite", "prodml+redis", "mlflow", "bentoml"):
        if name in f:
            for key, value in f[name].items():
                out[f"{name.replace('+', '_enriched_')}_{key}"] = value
    p = f["prodml"]
    for store in ("sqlite", "redis"):  # enriched against the same model without enrichment
        if f"prodml+{store}" in f:
            enriched = f[f"prodml+{store}"]
            out[f"enriched_{store}_vs_unenriched_ratio"] = enriched["rps"] / p["rps"]
    if "mlflow" in f:
        out["throughput_vs_mlflow_ratio"] = p["rps"] / f["mlflow"]["rps"]
        out["half_load_p99_vs_mlflow_ratio"] = f["mlflow"]["half_p99_ms"] / p["half_p99_ms"]
    if "bentoml" in f:
        out["throughput_vs_bentoml_ratio"] = p["rps"] / f["bentoml"]["rps"]
    out["share_of_bare_ceiling_ratio"] = p["rps"] / f["bare"]["rps"]
    for stage, rps in f.get("breakdown", {}).items():
        out[f"breakdown_{stage}_rps"] = rps
        out[f"breakdown_{stage}_share_of_bare"] = rps / f["bare"]["rps"]
    b = f["batch"]
    out |= {f"batch_{k}": v for k, v in b.items()}
    out["batch_vs_bare_predict_ratio"] = b["prodml_rows_per_s"] / b["bare_rows_per_s"]
    out["batch_logged_vs_bare_predict_ratio"] = b["prodml_logged_rows_per_s"] / b["bare_rows_per_s"]
    s = f["single_row"]
    out |= {f"single_row_{k}": v for k, v in s.items()}
    out["single_row_vs_booster_ratio"] = s["booster_us"] / s["prodml_us"]
    return out


def _table(f: dict) -> None:
    names = [n for n in ("prodml", "prodml+sqlite", "prodml+redis", "mlflow", "bentoml", "bare")
             if n in f]  # fmt: skip
    print(
        f"\nLightGBM, {TREES} trees, {len(FEATURES)} features; one worker on one core; "
        "load from the other core\n"
    )
    print(f"{'':34}" + "".join(f"{n:>15}" for n in names))
    for key, label in (
        ("rps", "saturation, requests/s"),
        ("one_client_p50_ms", "one client p50, ms"),
        ("one_client_p99_ms", "one client p99, ms"),
        ("half_p99_ms", "half of saturation: p99, ms"),
        ("errors", "non-2xx answers"),
    ):
        print(f"{label:34}" + "".join(_cell(f[n][key]) for n in names))
    print(
        f"{'half of saturation: rate reached':34}"
        + "".join(_cell(f[n]["half_achieved"] / f[n]["half_rate"] * 100, "%") for n in names)
    )
    if "breakdown" in f:
        _breakdown_table(f["breakdown"], f["bare"]["rps"])
    b, s = f["batch"], f["single_row"]
    print(
        f"\nbatch, {b['rows']:,} rows Parquet → Parquet: prodml {b['prodml_rows_per_s']:,.0f} "
        f"rows/s ({b['prodml_logged_rows_per_s']:,.0f} with the prediction log, "
        f"{b['prodml_ray_rows_per_s']:,.0f} on a local Ray cluster), bare "
        f"booster.predict on the array {b['bare_rows_per_s']:,.0f} rows/s; same scores: "
        f"{b['identical']}"
    )
    print(
        f"one row in process: prodml Predictor.predict {s['prodml_us']:.1f} µs "
        f"({s['engine']}; {s['prodml_lightgbm_path_us']:.1f} µs on LightGBM's fast path), "
        f"booster.predict {s['booster_us']:.1f} µs\n"
    )


def _breakdown_table(stages: dict[str, float], bare: float) -> None:
    what = {
        "constant": "a constant from prodml's fast lane",
        "predict": "+ the model scores a fixed row",
        "answer": "+ validation, uncertainty, metrics, log records",
        "full": "+ the prediction log's write (as shipped)",
    }
    print(f"\nwhere a request's time goes (prodml at saturation; bare {bare:,.0f} requests/s)\n")
    print(f"{'':50}{'requests/s':>12}{'µs each':>10}{'of bare':>9}")
    for stage, rps in stages.items():
        print(f"{what[stage]:50}{rps:>12,.0f}{1e6 / rps:>10.1f}{rps / bare:>9.0%}")


def _cell(value: float | None, unit: str = "") -> str:
    return f"{'—':>15}" if value is None else f"{value:>14.2f}{unit or ' '}"


if __name__ == "__main__":
    main()
