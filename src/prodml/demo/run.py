"""The demo's steps, end to end: data → snapshot → features → train → register → serve →
batch score → monitor. Each step uses the same public pieces a user would."""

from __future__ import annotations

import functools
import json
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn

from prodml.clock import SimulatedClock
from prodml.data import open_source
from prodml.data.profile import profile_frame
from prodml.demo import flights
from prodml.monitor import feature_drift, time_windows
from prodml.serve import Predictor, create_app, score_parquet
from prodml.serve.server import BackgroundServer
from prodml.store import Finding
from prodml.train import classification_metrics, fit_model
from prodml.train.model import FLAVORS
from prodml.workspace import Workspace

_LOCAL = "departure_local"


@dataclass
class DemoReport:
    """Everything the demo measured, and where it wrote it."""

    rows: dict[str, int] = field(default_factory=dict)
    snapshots: dict[str, str] = field(default_factory=dict)
    models: dict[str, dict[str, float]] = field(default_factory=dict)
    run_ids: dict[str, str] = field(default_factory=dict)
    champion: str = ""
    champion_version: str = ""
    api: dict[str, float] = field(default_factory=dict)
    monthly: list[dict[str, Any]] = field(default_factory=list)
    paths: dict[str, str] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)


def run_demo(ws: Workspace, console: Console, *, requests: int = 1000) -> DemoReport:
    """Run every step on the real flights and return the figures; progress goes to `console`."""
    report = DemoReport()
    columns = (
        TextColumn("{task.description:<34}"),
        BarColumn(),
        TaskProgressColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=False) as progress:
        step = _Steps(progress, report)
        with step("Load and validate the flights"):
            train, valid, later = _ingest(ws, report)
        with step("Train baselines and LightGBM", total=len(FLAVORS)) as advance:
            _train(ws, report, train, valid, advance)
        with step("Register the champion"):
            _register(ws, report, train)
        with step("Serve July flights over HTTP", total=requests) as advance:
            _serve(ws, report, later, requests, advance)
        with step("Batch-score July–December", total=len(later)) as advance:
            scores = _batch(ws, report, later, advance)
        with step("Monitor drift and AUC per month"):
            _monitor(ws, report, scores)
    return report


class _Steps:
    def __init__(self, progress: Progress, report: DemoReport) -> None:
        self.progress = progress
        self.report = report

    @contextmanager
    def __call__(self, name: str, total: int | None = None) -> Iterator[Any]:
        task = self.progress.add_task(name, total=total or 1)
        started = time.perf_counter()
        yield lambda n=1: self.progress.advance(task, n)
        self.progress.update(task, completed=total or 1)
        self.report.seconds[name] = time.perf_counter() - started


def _ingest(ws: Workspace, report: DemoReport) -> tuple[pd.DataFrame, ...]:
    exports = flights.land_raw(ws.state_dir / "demo" / "raw")
    for name, path in exports.items():
        result = ws.ingest(open_source(path), flights.contract(name))
        snap = result.snapshot
        report.snapshots[name] = snap.id
        unchanged = " (export unchanged: not re-read)" if result.report is None else ""
        report.rows[f"{name} accepted{unchanged}"] = snap.num_rows
        report.rows[f"{name} quarantined"] = snap.quarantined_rows
        quarantine = result.quarantine_uri or snap.quarantine_uri
        if quarantine:
            report.paths[f"{name} quarantine"] = quarantine
    # Features are built from the snapshots as stored (hash-verified), not from memory.
    examples = flights.build_examples(
        ws.read_snapshot(report.snapshots["flights"]), ws.read_snapshot(report.snapshots["weather"])
    )
    month = examples["month"]
    train, valid, later = examples[month <= 5], examples[month == 6], examples[month >= 7]
    report.rows.update({"train (Jan–May)": len(train), "validation (Jun)": len(valid)})
    report.rows["scored (Jul–Dec)"] = len(later)
    return train, valid, later


def _train(
    ws: Workspace, report: DemoReport, train: pd.DataFrame, valid: pd.DataFrame, advance: Any
) -> None:
    lineage = _lineage(report)
    with ws.tracker.run("demo-pipeline", tags=lineage) as parent:
        report.run_ids["pipeline"] = parent
        for flavor in FLAVORS:
            with ws.tracker.run(flavor, parent_id=parent, tags=lineage) as run_id:
                model = fit_model(flavor, train, flights.LABEL, flights.FEATURES, valid=valid)
                metrics = classification_metrics(valid[flights.LABEL], model.predict_frame(valid))
                ws.tracker.log(run_id, params=model.params, metrics=metrics)
                with tempfile.TemporaryDirectory() as tmp:
                    model.save(Path(tmp))
                    ws.tracker.log_folder(run_id, Path(tmp), "model")
                report.models[flavor] = metrics
                report.run_ids[flavor] = run_id
            advance()


def _lineage(report: DemoReport) -> dict[str, str]:
    return {f"prodml.snapshot.{name}": sid for name, sid in report.snapshots.items()}


def _register(ws: Workspace, report: DemoReport, train: pd.DataFrame) -> None:
    best = max(FLAVORS, key=lambda f: report.models[f]["roc_auc"])
    tags = {"prodml.flavor": best, **_lineage(report)}
    info = ws.registry.register(flights.MODEL_NAME, report.run_ids[best], tags=tags)
    ws.registry.set_alias(info.name, "champion", info.version)
    # The drift reference is computed once, at registration, from the training rows.
    profile = profile_frame(train, flights.FEATURES.names)
    key = f"profiles/{info.name}/{info.version}.json"
    report.paths["reference profile"] = ws.artifacts.put_bytes(
        key, json.dumps(profile).encode()
    ).uri
    report.champion, report.champion_version = best, info.version


def _serve(
    ws: Workspace, report: DemoReport, later: pd.DataFrame, requests: int, advance: Any
) -> None:
    info, model = ws.registry.load(f"{flights.MODEL_NAME}@champion")
    july = later[later["month"] == 7].sort_values(flights.EVENT_TIME)
    sample = july.iloc[np.linspace(0, len(july) - 1, min(requests, len(july))).astype(int)]
    clock = SimulatedClock(sample[flights.EVENT_TIME].iloc[0].to_pydatetime())
    log = ws.prediction_log("demo")
    before = log.count()
    app = create_app(Predictor(model, info), log, clock)
    latencies = []
    rows = sample[list(flights.FEATURES.names)].astype(object).where(sample.notna(), None)
    with log, BackgroundServer(app) as server, httpx.Client(base_url=server.url) as client:
        for (_, row), when, flight_id in zip(
            rows.iterrows(), sample[flights.EVENT_TIME], sample["flight_id"], strict=True
        ):
            clock.set(when.to_pydatetime())  # replay: the API sees the flight's own time
            started = time.perf_counter()
            response = client.post(
                "/v1/predict",
                json={"rows": [row.to_dict()]},
                headers={"x-request-id": f"flight-{flight_id}"},
            )
            latencies.append(time.perf_counter() - started)
            if response.status_code != 200:
                raise RuntimeError(response.text)
            advance()
        bad = client.post("/v1/predict", json={"rows": [{"carrier": "UA", "distance": "far"}]})
    logged = log.count() - before
    ms = np.asarray(latencies) * 1000
    report.api = {
        "requests": len(ms),
        "p50_ms": float(np.percentile(ms, 50)),
        "p99_ms": float(np.percentile(ms, 99)),
        "logged": logged,
        "bad_request_status": bad.status_code,
    }
    report.paths["prediction log"] = str(log.folder)


def _batch(ws: Workspace, report: DemoReport, later: pd.DataFrame, advance: Any) -> pd.DataFrame:
    folder = ws.state_dir / "demo"
    folder.mkdir(parents=True, exist_ok=True)
    source, scored = folder / "flights_2013_jul_dec.parquet", folder / "scores_2013_jul_dec.parquet"
    later.to_parquet(source, index=False)
    keep = ("flight_id", flights.EVENT_TIME, flights.LABEL)
    _, model = ws.registry.load(f"{flights.MODEL_NAME}@champion")
    score_parquet(model, source, scored, keep=keep, chunk_rows=50_000, on_chunk=advance)
    report.paths["batch input"], report.paths["batch scores"] = str(source), str(scored)
    return pd.read_parquet(scored).merge(later.drop(columns=list(keep[1:])), on="flight_id")


def _monitor(ws: Workspace, report: DemoReport, scores: pd.DataFrame) -> None:
    key = f"profiles/{flights.MODEL_NAME}/{report.champion_version}.json"
    reference = json.loads(ws.artifacts.get_bytes(key))
    # Months of the airports' calendar: a flight at 8 pm on Dec 31 belongs to December.
    scores[_LOCAL] = scores[flights.EVENT_TIME].dt.tz_convert(flights.TIMEZONE)
    now = ws.clock.now()
    findings: list[Finding] = []
    for window in time_windows(scores, time=_LOCAL, freq="MS"):
        month = window.rows
        auc = classification_metrics(month[flights.LABEL], month["score"])["roc_auc"]
        drift = feature_drift(reference, month, flights.FEATURES.names)
        finding = functools.partial(
            Finding,
            model_name=flights.MODEL_NAME,
            model_version=report.champion_version,
            window_start=window.start.to_pydatetime(),
            window_end=window.end.to_pydatetime(),
            created_at=now,
        )
        findings += [
            finding(monitor="drift", metric="psi", feature=f, value=v) for f, v in drift.items()
        ]
        findings.append(finding(monitor="performance", metric="roc_auc", value=auc))
        report.monthly.append(
            {
                "month": window.start.strftime("%b"),
                "rows": len(month),
                "auc": auc,
                "drift": dict(sorted(drift.items(), key=lambda kv: -kv[1])),
            }
        )
    ws.metadata.add_findings(findings)
