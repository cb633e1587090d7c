"""Rollout speed and statistics: what routing, a canary and a shadow cost a server, how
fast a policy change reaches every replica, and how the analysis' sequential test holds
its error rate and how soon it finds a real difference.

1. Load (the serving benchmark's model, 500 trees, 20 features; server alone on core 0,
   wrk on core 1): saturation throughput and one-client p99 of a single-version
   deployment, a 90/10 canary (the candidate is the same model loaded again, so only the
   routing and the candidate's thread cost extra), and a shadow (every request also
   scored by the candidate after its answer). The shadow's cost beyond its own scoring
   is measured against the throughput the server would reach if each request simply
   took one more scoring of its row as the server scores it. Each figure is the median
   of `--rounds` rounds that alternate the policies.
2. Propagation (PostgreSQL at 127.0.0.1:5432, or TEST_POSTGRES_URL): two `prodml serve
   --deployment` processes follow one deployment; the seconds from a policy change to
   both answering under it, five times, against serving.poll_seconds + 1 s.
3. History: one analysis tick of a canary started today, on a model whose prediction log
   holds `--days` days of earlier traffic (5,000 answered rows a day, each labelled):
   what the tick reads now (the log since the rollout began, skipping older Parquet
   segments unopened; the labels received since) against what it read before (the whole
   log and every label), and the whole tick's time.
4. Statistics: 500 simulated A/A experiments on ROC AUC read at 20 looks each (how often
   a winner is named, against α = 0.05), and 100 experiments with a true 0.02 AUC
   difference read at every 10 % more rows: the rows per arm at which the sequential
   test names the better arm, against the rows a fixed-horizon test at the same α and
   80 % power needs (which may be read only once, at that size).

    python benchmarks/rollout.py [--seconds 10] [--rounds 3] [--days 180] [--skip-load]
                                 [--skip-propagation] [--skip-history] [--skip-statistics]

Needs wrk (Debian: apt-get install wrk).
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
from _load import serving, wrk
from _postgres import fresh_schema
from _serving_data import FEATURES, rows, train

HERE = Path(__file__).resolve().parent
POLICIES = ("single", "canary", "shadow")
ALPHA = 0.05


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="per load measurement")
    parser.add_argument("--rounds", type=int, default=3, help="load rounds (medians)")
    parser.add_argument("--skip-load", action="store_true")
    parser.add_argument("--skip-propagation", action="store_true")
    parser.add_argument("--days", type=int, default=180, help="history before the canary")
    parser.add_argument("--skip-history", action="store_true")
    parser.add_argument("--skip-statistics", action="store_true")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="prodml-rollout-"))
    figures: dict[str, float] = {}
    if not args.skip_load:
        if shutil.which("wrk") is None:
            raise SystemExit("wrk is needed for the load: apt-get install wrk")
        figures |= _load(work, args.seconds, args.rounds)
    if not args.skip_propagation:
        figures |= _propagation(work)
    if not args.skip_history:
        figures |= _history(work, args.days)
    if not args.skip_statistics:
        figures |= _statistics()
    _table(figures)
    print(json.dumps({k: round(v, 6) for k, v in figures.items()}))


def _load(work: Path, seconds: float, rounds: int) -> dict[str, float]:
    import lightgbm as lgb

    from prodml.registry import ModelVersionInfo
    from prodml.serve import Predictor
    from prodml.serve.answering import score
    from prodml.train.encoding import FeatureSpec, TabularEncoder
    from prodml.train.model import TrainedModel

    model_file = train(work)
    folder = work / "model"
    encoder = TabularEncoder(FeatureSpec((), tuple(FEATURES)))
    TrainedModel("lightgbm", encoder, lgb.Booster(model_file=str(model_file))).save(folder)
    row = rows(1, seed=3)[0]
    values = zip(FEATURES, row, strict=True)
    body = {"rows": [{f: (None if np.isnan(v) else float(v)) for f, v in values}]}
    runs: dict[str, list[float]] = {}
    # Rounds alternate the policies, so a slow spell of the machine (another process, a
    # thermal dip) hits each of them alike; each figure is the median of its rounds.
    for _ in range(rounds):
        for kind in POLICIES:
            server = {
                "command": [
                    sys.executable,
                    str(HERE / "_rollout_prodml.py"),
                    str(folder),
                    str(work / f"log-{kind}"),
                    "{port}",
                    kind,
                ],
                "path": "/v1/predict",
                "body": body,
            }
            with serving(f"rollout-{kind}", server, work) as (port, lua, _):
                wrk(lua, port, "/v1/predict", connections=4, seconds=2)  # warm-up
                saturation = wrk(lua, port, "/v1/predict", connections=32, seconds=seconds)
                one = wrk(lua, port, "/v1/predict", connections=1, seconds=seconds)
                metrics = httpx.get(f"http://127.0.0.1:{port}/metrics").text
            # Copies a shadow could not keep up with are dropped (counted as "busy"): a
            # shadow's throughput only counts if it scored (nearly) every copy.
            answered = _total(metrics, "prodml_requests_total")
            runs.setdefault(f"{kind}_dropped_share", []).append(
                _total(metrics, "prodml_fallbacks_total") / max(answered, 1.0)
            )
            for key, value in (
                ("rps", saturation["rps"]),
                ("p99_ms", one["p99_ms"]),
                ("p50_ms", one["p50_ms"]),
                ("errors", float(saturation["errors"] + one["errors"])),
            ):
                runs.setdefault(f"{kind}_{key}", []).append(value)
    out = {key: float(np.median(values)) for key, values in runs.items()}
    out |= {f"{kind}_errors": float(sum(runs[f"{kind}_errors"])) for kind in POLICIES}
    # The shadow model's own cost: one compiled one-row request scored as the server
    # scores it (inputs to features, the model, the answer's fields), measured in-process.
    predictor = Predictor(TrainedModel.load(folder), ModelVersionInfo("b", "1", "r", "s", ()))
    compiling = predictor.compile_in_background(work / "compiled")
    if compiling is not None:
        compiling.join()
    request = body["rows"]
    for _ in range(2000):
        score(predictor, request, explain=False)
    started, n = time.perf_counter(), 20_000
    for _ in range(n):
        score(predictor, request, explain=False)
    scoring = (time.perf_counter() - started) / n
    ideal = 1 / (1 / out["single_rps"] + scoring)
    out["shadow_scoring_us"] = scoring * 1e6
    out["shadow_ideal_rps"] = ideal
    out["shadow_cost_beyond_scoring"] = max(0.0, 1 - out["shadow_rps"] / ideal)
    out["shadow_added_p99_ms"] = out["shadow_p99_ms"] - out["single_p99_ms"]
    out["canary_throughput_vs_single_ratio"] = out["canary_rps"] / out["single_rps"]
    out["shadow_throughput_vs_ideal_ratio"] = out["shadow_rps"] / ideal
    return out


def _history(work: Path, days: int, per_day: int = 5000) -> dict[str, float]:
    """Seconds of one tick's reads, now and as before, and of the whole tick, over `days`
    days of history; each figure the best of three."""
    import pyarrow as pa

    from prodml.clock import SimulatedClock
    from prodml.store import Label
    from prodml.workspace import Workspace

    start = pd.Timestamp("2026-01-01", tz="UTC")
    clock = SimulatedClock(start.to_pydatetime())
    project = work / "history"
    project.mkdir()
    rng = np.random.default_rng(0)
    with Workspace.open(project, clock) as ws:
        _register_two(ws, "bench")
        ws.rollouts.create("api", "bench/1", actor="bench")
        log = ws.prediction_log("bench")

        def day(i: int, arms: np.ndarray) -> None:
            at = start + pd.Timedelta(days=i) + pd.to_timedelta(np.arange(per_day) * 17, "s")
            x = rng.normal(size=per_day)
            ids = [f"d{i}-{j}" for j in range(per_day)]
            log.append_table(
                pa.table(
                    {
                        "request_id": ids,
                        "row": np.zeros(per_day, dtype=np.int64),
                        "timestamp": [t.isoformat() for t in at],
                        "channel": ["http"] * per_day,
                        "model": ["bench"] * per_day,
                        "version": np.where(arms == "candidate", "2", "1"),
                        "inputs": pa.StructArray.from_arrays([pa.array(x)], ["x"]),
                        "probability": 1 / (1 + np.exp(-x)),
                        "label": (x > 0).astype(np.int64),
                        "latency_ms": rng.gamma(2.0, 0.5, per_day),
                        "deployment": ["api"] * per_day,
                        "arm": arms,
                    }
                )
            )
            outcomes = rng.random(per_day) < 1 / (1 + np.exp(-x))
            labels = [Label(r, float(y)) for r, y in zip(ids, outcomes, strict=True)]
            ws.metadata.add_labels("bench", labels, received_at=at[-1] + pd.Timedelta(hours=1))

        for i in range(days):
            day(i, np.full(per_day, "stable"))
        clock.set((start + pd.Timedelta(days=days)).to_pydatetime())
        # A week per step: every tick timed holds, so each judges the same rows.
        ws.rollouts.canary("api", "2", actor="bench", steps=(0.1, 1.0), step_seconds=7 * 86400)
        began = clock.now()
        day(days, np.where(rng.random(per_day) < 0.1, "candidate", "stable"))
        clock.set((start + pd.Timedelta(days=days + 1, hours=2)).to_pydatetime())

        def before() -> None:  # the whole log and every label, then the rows since
            records = log.read()
            answered = pd.to_datetime(records["timestamp"], utc=True, format="ISO8601")
            records[answered >= pd.Timestamp(began)]
            ws.metadata.list_labels("bench")

        def now() -> None:
            log.read(since=began)
            ws.metadata.list_labels("bench", since=began)

        timed = {name: _best(f) for name, f in (("before", before), ("now", now))}
        tick = _best(lambda: ws.analysis.tick("api"))
        judged = ws.analysis.tick("api")
    return {
        "history_rows": float(days * per_day),
        "history_segments": float(len(log.segments())),
        "history_reads_before_s": timed["before"],
        "history_reads_now_s": timed["now"],
        "history_tick_s": tick,
        # The tick judged today's traffic: the candidate's rows of the day.
        "history_tick_candidate_rows": float(judged.change.figures["step_rows"]),
        "tick_reads_vs_whole_history_ratio": timed["before"] / timed["now"],
    }


def _best(run, times: int = 3) -> float:
    """The fastest of `times` runs of `run()`, in seconds."""
    spent = []
    for _ in range(times):
        started = time.perf_counter()
        run()
        spent.append(time.perf_counter() - started)
    return min(spent)


def _register_two(ws, name: str) -> None:
    """Versions 1 and 2 of `name`: two logistic models of one feature `x`."""
    from prodml.train import fit_model
    from prodml.train.encoding import FeatureSpec

    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"x": rng.normal(size=2000)})
    frame["y"] = (rng.random(2000) < 1 / (1 + np.exp(-frame["x"]))).astype(int)
    spec = FeatureSpec((), ("x",))
    for seed in range(2):
        model = fit_model("logistic", frame.sample(frac=1.0, random_state=seed), "y", spec)
        with ws.tracker.run("bench") as run_id, tempfile.TemporaryDirectory() as tmp:
            model.save(Path(tmp))
            ws.tracker.log_folder(run_id, Path(tmp), "model")
        ws.registry.register(name, run_id)


def _propagation(work: Path) -> dict[str, float]:
    """Two replicas on PostgreSQL; seconds from each policy change to both serving it."""

    with fresh_schema("propagation") as url:
        if url is None:
            return {}
        return _propagate(work, url)


def _propagate(work: Path, url: str) -> dict[str, float]:
    from prodml.workspace import Workspace

    project = work / "replicas"
    project.mkdir()
    poll = 0.5
    (project / "prodml.yaml").write_text(f"metadata_url: {url}\nserving:\n  poll_seconds: {poll}\n")
    with Workspace.open(project) as ws:
        _register_two(ws, "bench")
        ws.rollouts.create("api", "bench/1", actor="bench")
        replicas = [_replica(project, i) for i in range(2)]
        try:
            urls = [_ready(p, url) for p, url in replicas]
            delays = []
            for i in range(5):
                kind = "canary" if i % 2 == 0 else "single"
                started = time.monotonic()
                if kind == "canary":
                    ws.rollouts.canary("api", "2", actor="bench")
                else:
                    ws.rollouts.rollback("api", actor="bench")
                while not all(_kind(url) == kind for url in urls):
                    time.sleep(0.01)
                delays.append(time.monotonic() - started)
        finally:
            for process, _ in replicas:
                process.terminate()
                process.wait(30)
    return {
        "propagation_max_s": max(delays),
        "propagation_median_s": float(np.median(delays)),
        "propagation_limit_s": poll + 1,
        "propagation_vs_limit_ratio": (poll + 1) / max(delays),
    }


def _replica(project: Path, i: int) -> tuple[subprocess.Popen, str]:
    from _load import free_port

    port = free_port()
    log = (project / f"replica-{i}.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "prodml", "serve", "--deployment", "api", "--port", str(port),
         "-C", str(project)],
        stdout=log,
        stderr=subprocess.STDOUT,
    )  # fmt: skip
    return process, f"http://127.0.0.1:{port}"


def _ready(process: subprocess.Popen, url: str) -> str:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"a replica exited with {process.returncode}")
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                return url
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"no replica answered at {url} in 120 s")


def _kind(url: str) -> str:
    return httpx.get(f"{url}/v1/models", timeout=5).json()["policy"]["kind"]


def _statistics() -> dict[str, float]:
    from prodml.rollout.experiment import verdict
    from prodml.rollout.sequential import auc_with_variance, fixed_horizon_rows

    rng = np.random.default_rng(0)

    def arm(n: int, signal: float) -> pd.DataFrame:
        truth = rng.random(n) < 0.3
        score = 1 / (1 + np.exp(-(signal * (truth - 0.3) * 2 + rng.normal(size=n))))
        return pd.DataFrame({"prediction": score, "label_true": truth.astype(float)})

    looks = np.linspace(500, 10_000, 20).astype(int)
    winners = 0
    for _ in range(500):
        a, b = arm(10_000, 1.0), arm(10_000, 1.0)
        winners += any(
            verdict("b", b[:n], a[:n], metric="roc_auc", alpha=ALPHA, min_effect=0.02).winner
            for n in looks
        )
    # A true difference of 0.02 AUC: the signal of arm b tuned until its AUC is 0.02 more.
    base = arm(200_000, 1.0)
    auc_a, variance = auc_with_variance(base["label_true"], base["prediction"])
    signal = 1.0
    while auc_with_variance(*_yx(arm(200_000, signal)))[0] < auc_a + 0.02:
        signal += 0.02
    detected = []
    # Looks at every 10 % more rows (any looks are valid for the sequential test).
    checks = np.unique((500 * 1.1 ** np.arange(50)).astype(int))
    checks = checks[checks <= 60_000]
    for _ in range(100):
        a, b = arm(60_000, 1.0), arm(60_000, signal)
        found = next(
            (
                n
                for n in checks
                if verdict("b", b[:n], a[:n], metric="roc_auc", alpha=ALPHA, min_effect=0.02).winner
                == "b"
            ),
            np.nan,
        )
        detected.append(found)
    # Fixed horizon: per-arm rows for a two-sided z-test (α, 80 % power) on the AUC
    # difference, its per-row variance from the DeLong variance above.
    fixed = fixed_horizon_rows(float(np.sqrt(variance * len(base))), 0.02, alpha=ALPHA)
    median = float(np.nanmedian(detected))
    return {
        "aa_experiments": 500.0,
        "aa_false_winner_rate": winners / 500,
        "alpha": ALPHA,
        "aa_false_winner_vs_alpha_ratio": ALPHA / max(winners / 500, 1 / 500),
        "true_difference_auc": 0.02,
        "sequential_rows_per_arm_median": median,
        "sequential_detected_share": float(np.mean(~np.isnan(detected))),
        "fixed_horizon_rows_per_arm": float(fixed),
        "sequential_vs_fixed_horizon_ratio": float(fixed / median),
    }


def _total(metrics: str, name: str) -> float:
    """The sum of every series of counter `name` in a /metrics page."""
    return sum(float(m) for m in re.findall(rf"^{name}{{[^}}]*}} ([\d.e+]+)$", metrics, re.M))


def _yx(frame: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    return frame["label_true"], frame["prediction"]


def _table(f: dict[str, float]) -> None:
    print("\nRollouts                                   figure        target")
    lines = [
        ("single-version saturation, req/s", "single_rps", "", ""),
        ("90/10 canary saturation, req/s", "canary_rps", "", ""),
        ("  canary / single", "canary_throughput_vs_single_ratio", "", ">= 0.9"),
        ("shadow saturation, req/s", "shadow_rps", "", ""),
        ("  shadow's own scoring, us", "shadow_scoring_us", "", ""),
        ("  cost beyond its scoring", "shadow_cost_beyond_scoring", "", "<= 0.10"),
        ("  copies dropped by the shadow, share", "shadow_dropped_share", "", ""),
        ("one client p99, single, ms", "single_p99_ms", "", ""),
        ("one client p99, shadow, ms", "shadow_p99_ms", "", ""),
        ("  added by the shadow, ms", "shadow_added_p99_ms", "", "<= 0.2"),
        ("policy change to both replicas, max s", "propagation_max_s", "", "<= poll + 1 s"),
        ("history: rows before the canary", "history_rows", "", ""),
        ("  a tick's reads before (whole log), s", "history_reads_before_s", "", ""),
        ("  a tick's reads now (since it began), s", "history_reads_now_s", "", ""),
        ("  the whole tick now, s", "history_tick_s", "", ""),
        ("  reads before / now", "tick_reads_vs_whole_history_ratio", "", ""),
        ("A/A false winners (500 experiments)", "aa_false_winner_rate", "", "<= 0.05"),
        ("rows per arm to find +0.02 AUC, sequential", "sequential_rows_per_arm_median", "", ""),
        ("rows per arm, fixed horizon (80 % power)", "fixed_horizon_rows_per_arm", "", ""),
    ]
    for label, key, _, target in lines:
        if key in f:
            print(f"{label:44}{f[key]:>12,.3f}  {target}")


if __name__ == "__main__":
    main()
