"""The demo's steps, end to end: data → snapshot → features → train → register → serve →
roll out → batch score → monitor. Each step uses the same public pieces a user would."""

from __future__ import annotations

import asyncio
import logging
import shutil
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import orjson
import pandas as pd
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn

from prodml.automate.controller import CONTROLLER, Controller
from prodml.clock import SimulatedClock
from prodml.data import open_source
from prodml.demo import flights
from prodml.demo.cast import Cast, issue_cast
from prodml.demo.feed import Feed
from prodml.demo.replay import ReplayPlan, ReplayReport, replay_year
from prodml.demo.replay_page import write_page
from prodml.demo.rollout import DEPLOYMENT, Rollout, run_rollouts
from prodml.errors import TrainingError
from prodml.features.definitions import FeatureService
from prodml.features.parity import check_parity
from prodml.features.registry import apply
from prodml.monitor.alerts import evaluate_alerts
from prodml.monitor.notify import Notifier
from prodml.monitor.run import MonitorRun, monitor_traffic
from prodml.serve import Deployment, Predictor, create_app, score_file
from prodml.serve.enrich import Enricher
from prodml.serve.server import BackgroundServer
from prodml.serve.stream import StreamWorker, open_backend
from prodml.settings import MonitoringSettings
from prodml.store import Alert, Decision, Label
from prodml.train.encoding import FeatureSpec
from prodml.train.tabular import Recipe
from prodml.train.tabular import steps as train_steps
from prodml.ui.screenshots import chromium, console_screenshots
from prodml.workflow import train_and_register
from prodml.workspace import Workspace

# July's first half is served by the champion alone; the rollouts replay the second.
SECOND_HALF = pd.Timestamp("2013-07-15", tz=flights.TIMEZONE)


@dataclass
class DemoReport:
    """Everything the demo measured, and where it wrote it."""

    rows: dict[str, int] = field(default_factory=dict)
    snapshots: dict[str, str] = field(default_factory=dict)
    models: dict[str, dict[str, float]] = field(default_factory=dict)
    training: dict[str, Any] = field(default_factory=dict)
    run_ids: dict[str, str] = field(default_factory=dict)
    champion: str = ""
    champion_version: str = ""
    features: dict[str, Any] = field(default_factory=dict)
    api: dict[str, float] = field(default_factory=dict)
    batch: dict[str, Any] = field(default_factory=dict)
    stream: dict[str, Any] = field(default_factory=dict)
    monthly: list[dict[str, Any]] = field(default_factory=list)
    concept: list[dict[str, Any]] = field(default_factory=list)
    alerts: list[Alert] = field(default_factory=list)
    rollouts: list[Rollout] = field(default_factory=list)
    paths: dict[str, str] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    audit: dict[str, Any] = field(default_factory=dict)  # tokens, refusals, the verdict
    replay: ReplayReport | None = None
    retrain: list[Decision] = field(default_factory=list)  # the controller's pass


def run_demo(
    ws: Workspace, console: Console, *, requests: int = 1000, replay: ReplayPlan | None = None
) -> DemoReport:
    """Run every step on the real flights and return the figures; progress goes to
    `console`. With a `replay` plan, the trained model's months are replayed with
    continuous training instead of the serving, rollout, batch and monitoring steps."""
    report = DemoReport()
    alerts_log = ws.state_dir / "demo" / "alerts.log"
    columns = (
        TextColumn("{task.description:<34}"),
        BarColumn(),
        TaskProgressColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=False) as progress:
        step = _Steps(progress, report)
        people = issue_cast(ws)  # every step below acts, and is recorded, as its role
        report.audit["tokens"] = len(people.tokens)
        with step("Load and validate the flights"), people.acting(ws, "data-engineer"):
            snapshots = _ingest(ws, report)
        with step("Build point-in-time training set"), people.acting(ws, "data-engineer"):
            service, spec, (train, valid, later) = _features(ws, report, snapshots)
        with (
            step(
                "Train, gate and register", total=len(train_steps(flights.train_spec(spec)))
            ) as advance,
            people.acting(ws, "data-scientist"),
        ):
            _train(ws, report, spec, pd.concat([train, valid]), advance)
        if replay is not None:
            examples = pd.concat([train, valid, later], ignore_index=True)
            with step(f"Replay {replay.describe()}, retraining", total=1) as advance:
                report.replay = replay_year(
                    ws,
                    examples,
                    service,
                    replay,
                    on_request=lambda done, total: advance(1 / total),
                )
                page = ws.state_dir / "demo" / "replay.html"
                report.paths["replay chart"] = str(
                    write_page(report.replay, page, generated_at=ws.clock.now())
                )
            return report
        july = later[later["month"] == 7].sort_values(flights.EVENT_TIME)
        half = july[flights.EVENT_TIME] < SECOND_HALF
        with step("Serve July 1–14 over HTTP", total=requests) as advance:
            _serve(ws, report, service, july[half], requests, advance, people)
        rest = july[~half]
        with step("Canary a retrained, then a broken model", total=len(rest) + 2) as advance:
            feed = Feed(
                ws.online_store,
                service,
                rest[flights.EVENT_TIME].iloc[0],
                rest[flights.EVENT_TIME].iloc[-1],
            )
            report.rollouts = run_rollouts(
                ws,
                service,
                spec,
                pd.concat([train, valid]),
                rest,
                report.snapshots,
                feed.until,
                advance,
                people,
            )
            report.champion_version = ws.registry.resolve(
                f"{flights.MODEL_NAME}@champion"
            ).version  # the canary's promotion moved it
        with (
            step("Batch-score July–December", total=len(later)) as advance,
            people.acting(ws, "operator"),
        ):
            scores = _batch(ws, report, later, advance)
        with (
            step("Monitor drift and AUC per month"),
            _notices_to(alerts_log) as path,
            people.acting(ws, "operator"),
        ):
            outcomes_in = _monitor(ws, report, scores)
            report.paths["alert notices"] = str(path)
        with step("Retrain on the outcomes (one controller pass)"):
            report.retrain = _retrain(ws, outcomes_in)
        with step("Verify the audit log"):
            verdict = ws.audit.verify()
            report.audit |= {
                "ok": verdict.ok,
                "verdict": verdict.sentence(),
                "events": dict(Counter(e.action for e in ws.audit.events()).most_common()),
            }
        _photograph(ws, report, step)
    return report


def _photograph(ws: Workspace, report: DemoReport, step: _Steps) -> None:
    """Pictures of the console's main pages beside the demo's reports, when Chromium is
    installed (they take a few seconds each)."""
    if chromium() is None:
        return
    with step("Photograph the console"):
        folder = ws.state_dir / "demo"
        console_screenshots(ws, flights.MODEL_NAME, DEPLOYMENT, folder)
        report.paths["console screenshots"] = str(folder / "console-*.png")


@contextmanager
def _notices_to(path: Path) -> Iterator[Path]:
    """Alert notices go to `path` while the demo replays its months, not to the console
    between progress bars: the summary shows them, the file has every one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(path, mode="w", encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    notices = logging.getLogger("prodml.alerts")
    notices.addHandler(handler)
    notices.propagate = False
    try:
        yield path
    finally:
        notices.propagate = True
        notices.removeHandler(handler)
        handler.close()


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


def _ingest(ws: Workspace, report: DemoReport) -> dict[str, pd.DataFrame]:
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
    return {name: ws.read_snapshot(report.snapshots[name]) for name in flights.EXPORTS}


def _features(
    ws: Workspace, report: DemoReport, snapshots: dict[str, pd.DataFrame]
) -> tuple[FeatureService, FeatureSpec, tuple[pd.DataFrame, ...]]:
    file, service = flights.feature_service()
    # The demo retrains its model on whatever the definitions now say, so a changed view
    # (after an upgrade) replaces the old one rather than blocking the run.
    apply(
        ws.metadata,
        service.views,
        [service],
        now=ws.clock.now(),
        file=file,
        force=True,
        audit=ws.audit,
    )
    report.features = {"service": service.name, "version": service.version}
    examples, resolved = flights.examples_as_of(snapshots, ws.project_dir)
    month = examples["month"]
    train, valid, later = examples[month <= 5], examples[month == 6], examples[month >= 7]
    report.rows.update({"train (Jan–May)": len(train), "validation (Jun)": len(valid)})
    report.rows["scored (Jul–Dec)"] = len(later)
    return resolved, flights.feature_spec(service), (train, valid, later)


def _train(
    ws: Workspace,
    report: DemoReport,
    spec: FeatureSpec,
    examples: pd.DataFrame,
    advance: Any,
) -> None:
    """Train, gate and register through the one workflow every trainer uses; its drift
    reference comes from January–May, and June's held-out rows calibrate the label-free
    AUC estimate."""
    snapshots = {name: ws.metadata.get_snapshot(sid) for name, sid in report.snapshots.items()}
    recipe = Recipe(
        examples,
        flights.train_spec(spec),
        (report.features["service"], report.features["version"]),
    )
    registered = train_and_register(
        ws,
        recipe,
        inputs=snapshots,
        recorded_as=flights.RECIPE,  # so `prodml models reproduce` can re-run it
        on_step=lambda _: advance(),
    )
    result, version = registered.result, registered.version
    assert result is not None
    report.models = {name: e["metrics"] for name, e in result.evaluations.items()}
    report.run_ids = {**result.run_ids, "pipeline": result.pipeline_run_id}
    report.training = {
        "reused": len(result.pipeline.records) - len(result.pipeline.ran),
        "steps": len(result.pipeline.records),
        "gate_passed": result.gate["passed"],
        "gate_reasons": result.gate["reasons"],
        "best_threshold": result.evaluations[result.best]["best_threshold"],
        "slices": result.evaluations[result.best]["slices"],
    }
    if not registered.passed:
        raise TrainingError(
            f"The demo's model did not pass the gate: {'; '.join(result.gate['reasons'])}"
        )
    if "champion" not in version.aliases:  # a rerun after prodml changed: a new challenger
        version = ws.registry.promote(version.ref, "champion", now=ws.clock.now())
    report.champion, report.champion_version = result.best, version.version
    report.paths["reference profile"] = registered.reference


def _serve(
    ws: Workspace,
    report: DemoReport,
    service: FeatureService,
    july: pd.DataFrame,
    requests: int,
    advance: Any,
    people: Cast,
) -> None:
    """July 1-14 through the HTTP API with the client's token (the server checks it
    as governance.auth would); a caller without a token and a client posting labels are
    refused, as they must be."""
    info, model = ws.registry.load(f"{flights.MODEL_NAME}@champion")
    sample = july.iloc[np.linspace(0, len(july) - 1, min(requests, len(july))).astype(int)]
    times = sample[flights.EVENT_TIME]
    clock = SimulatedClock(times.iloc[0].to_pydatetime())
    feed = Feed(ws.online_store, service, times.iloc[0], times.iloc[-1])
    log = ws.prediction_log(flights.MODEL_NAME)  # where `prodml serve` logs the model
    shutil.rmtree(log.folder, ignore_errors=True)  # a rerun starts over
    before = log.count()
    predictor = Predictor(
        model, info, enricher=Enricher(ws.online_store, service, clock), redactor=ws.redactor
    )
    app = create_app(predictor, log, clock, labels=ws.metadata, guard=ws.guard)
    # A client knows the flight, not the weather: it sends the keys and its own fields.
    asked = list(predictor.row_schema.model_fields)
    rows = sample[asked].astype(object).where(sample[asked].notna(), None)
    latencies = []
    stream = _StreamSlice(ws, predictor, log, clock)
    with (
        log,
        BackgroundServer(app) as server,
        httpx.Client(base_url=server.url, headers=people.headers("client")) as client,
    ):
        for i, ((_, row), when, flight_id) in enumerate(
            zip(rows.iterrows(), times, sample["flight_id"], strict=True)
        ):
            clock.set(when.to_pydatetime())  # replay: the API sees the flight's own time
            feed.until(when)
            if stream.ready and i % 5 == 4:  # every fifth request comes by message instead
                stream.answer(f"flight-{flight_id}", {str(k): v for k, v in row.items()})
                advance()
                continue
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
        stream.close()
        logged = log.count() - before
        # Refused with a 422 naming the field, and logged as refused, for monitoring.
        bad = client.post("/v1/predict", json={"rows": [{"carrier": "UA", "distance": "far"}]})
        anonymous = httpx.post(f"{server.url}/v1/predict", json={"rows": []})
        labels = {"labels": [{"request_id": "flight-0", "label": 1}]}
        escalation = client.post("/v1/feedback", json=labels)  # a client may not label
    parity = check_parity(ws.online_store, service, now=clock.now(), sample=200)
    report.features.update(
        parity_ok=parity.ok,
        parity_checked=parity.checked,
        parity_mismatches=sum(parity.mismatches.values()),
        parity_at=parity.at.isoformat(),
        request_fields=asked,
    )
    ms = np.asarray(latencies) * 1000
    report.api = {
        "requests": len(ms),
        "p50_ms": float(np.percentile(ms, 50)),
        "p99_ms": float(np.percentile(ms, 99)),
        "logged": logged,
        "bad_request_status": bad.status_code,
        "no_token_status": anonymous.status_code,
        "client_labels_status": escalation.status_code,
        "coverage": predictor.coverage or 0.0,
    }
    report.stream = stream.summary()
    report.paths["prediction log"] = str(log.folder)


class _StreamSlice:
    """A slice of the replayed traffic sent as messages through the broker of
    streaming.url and answered by a stream worker; skipped, with the reason, when no
    broker answers (a laptop without NATS)."""

    def __init__(self, ws: Workspace, predictor: Predictor, log: Any, clock: Any) -> None:
        settings = ws.settings.streaming
        self.url = settings.url
        self.runner = asyncio.Runner()
        self.run_id = uuid.uuid4().hex[:8]  # fresh ids: a rerun's answers are not duplicates
        self.skipped = ""
        self.backend = open_backend(self.url, settings.prefix, predictor.info.name)
        try:
            self.runner.run(asyncio.wait_for(self.backend.open(), 10))
        except Exception as exc:  # any reason at all: the demo goes on over HTTP only
            self.skipped = f"{exc}".splitlines()[0] or type(exc).__name__
        self.worker = StreamWorker(self.backend, Deployment(predictor), log, clock)

    @property
    def ready(self) -> bool:
        return not self.skipped

    def answer(self, request_id: str, row: dict[str, Any]) -> None:
        body = orjson.dumps({"request_id": f"{request_id}-{self.run_id}", "rows": [row]})
        self.runner.run(self._send_and_answer(body))

    async def _send_and_answer(self, body: bytes) -> None:
        await self.backend.send_request(body)
        while not (messages := await self.backend.fetch(1, timeout=5.0)):
            pass
        for message in messages:
            await self.worker.handle(message)

    def close(self) -> None:
        if self.ready:
            self.runner.run(self.backend.close())
        self.runner.close()

    def summary(self) -> dict[str, Any]:
        stats = self.worker.stats
        return {
            "url": self.url,
            "skipped": self.skipped,
            "answered": stats.answered,
            "dead_lettered": stats.dead_lettered,
            "subjects": self.backend.subjects,
        }


def _batch(ws: Workspace, report: DemoReport, later: pd.DataFrame, advance: Any) -> pd.DataFrame:
    """Each month's schedule is batch-scored as the month begins (the log dated then);
    returns every scored flight with its batch id and row, so outcomes can follow."""
    folder = ws.state_dir / "demo"
    folder.mkdir(parents=True, exist_ok=True)
    keep = ("flight_id", flights.EVENT_TIME, flights.LABEL)
    info, model = ws.registry.load(f"{flights.MODEL_NAME}@champion")
    # Batch rows hold every feature: no enrichment.
    predictor = Predictor(model, info, redactor=ws.redactor)
    local = later[flights.EVENT_TIME].dt.tz_convert(flights.TIMEZONE)
    scored, batches, outputs, totals = [], [], [], {"scored": 0, "rejected": 0}
    with ws.prediction_log(flights.MODEL_NAME) as log:
        for month, rows in later.groupby(local.dt.month, sort=True):
            rows = rows.sort_values(flights.EVENT_TIME, kind="stable")
            source = folder / f"flights_2013_{month:02d}.parquet"
            target = folder / f"scores_2013_{month:02d}.parquet"
            rows.to_parquet(source, index=False)
            result = score_file(
                predictor,
                source,
                target,
                keep=keep,
                chunk_rows=50_000,
                log=log,
                now=rows[flights.EVENT_TIME].iloc[0].to_pydatetime(),
                on_chunk=advance,
            )
            totals["scored"] += result.scored
            totals["rejected"] += result.rejected
            batches.append(result.batch_id)
            outputs.append(str(target))
            out = pd.read_parquet(target)
            scored.append(out.assign(batch_id=result.batch_id, row=np.arange(len(out))))
    report.batch = {**totals, "ids": batches, "outputs": outputs}
    report.paths["batch input"] = str(folder / "flights_2013_MM.parquet (one per month)")
    report.paths["batch scores"] = str(folder / "scores_2013_MM.parquet (one per month)")
    return pd.concat(scored, ignore_index=True).merge(
        later.drop(columns=list(keep[1:])), on="flight_id"
    )


_MONTHLY = MonitoringSettings(freq="MS", timezone=flights.TIMEZONE)


def _monitor(ws: Workspace, report: DemoReport, scores: pd.DataFrame) -> datetime:
    """Monitor the months replayed: at the end of December, before any outcome is known
    (drift, estimated AUC), then again once every flight's outcome has come in (realized
    AUC, concept drift); alerts after each pass. Returns the second pass's time."""
    name = flights.MODEL_NAME
    ws.metadata.forget_monitoring(name)  # the replay starts over on every run
    batches = set(scores["batch_id"])
    records = ws.prediction_log(name).read()
    records = records[records["request_id"].isin(batches)]  # the months, not July's callers
    # The default rules: a drop in AUC is judged against what registration measured on
    # held-out June rows, not against a threshold picked for this demo.
    rules = ws.settings.monitoring.rules
    end = (scores[flights.EVENT_TIME].max() + pd.Timedelta(days=1)).to_pydatetime()

    def monitor_pass(now: Any) -> MonitorRun:
        run = monitor_traffic(
            name,
            records,
            lambda version: ws.reference(name, version),
            ws.metadata,
            now=now,
            settings=_MONTHLY,
            explainer_of=lambda version: ws.explainer(name, version),
        )
        evaluate_alerts(name, rules, ws.metadata, Notifier(), now=now)
        return run

    before = monitor_pass(end)
    outcomes = [
        Label(b, float(y), int(r))
        for b, r, y in zip(scores["batch_id"], scores["row"], scores[flights.LABEL], strict=True)
    ]
    ws.metadata.add_labels(name, outcomes, received_at=end)
    outcomes_in = end + timedelta(days=7)
    after = monitor_pass(outcomes_in)  # a week later, the outcomes are in
    realized = {w.start: w.realized for w in after.windows}
    for window in before.windows:
        auc = realized.get(window.start, {}).get("roc_auc")
        report.monthly.append(
            {
                "month": window.start.strftime("%b"),
                "rows": window.rows,
                "estimated_auc": window.estimated.get("roc_auc", float("nan")),
                "estimated_low": window.estimated.get("roc_auc.low", float("nan")),
                "estimated_high": window.estimated.get("roc_auc.high", float("nan")),
                "auc": auc.value if auc else float("nan"),
                "auc_low": auc.low if auc else float("nan"),
                "auc_high": auc.high if auc else float("nan"),
                # Most drifted first, by how far past its threshold each statistic is.
                "drift": sorted(window.drift, key=lambda d: -d.statistic / d.threshold),
            }
        )
    report.concept = [
        {"month": s.start.strftime("%b"), "before": s.before, "after": s.after}
        for s in after.concept
    ]
    report.alerts = ws.metadata.list_alerts(model_name=name)
    page = ws.state_dir / "demo" / "monitoring-report.html"
    report.paths["monitoring report"] = str(ws.monitoring_report(name, page, records=records))
    return outcomes_in


# A month is batch-scored as it begins, so December's flights were all answered on
# December 1: the controller's pass holds out the newest 45 days of labelled traffic
# (December's) to judge its retrain by, where the default 14 days would hold out none.
HOLDOUT_DAYS = 45


def _retrain(ws: Workspace, at: datetime) -> list[Decision]:
    """One pass of the continuous-training controller at `at`, as `prodml ct tick` runs
    it: the alerts monitoring left and the outcomes that came in start a retrain on the
    labelled production rows, its gate judges it on December against the champion, and
    a version that passes goes out as a canary behind deployment "flights"."""
    name = flights.MODEL_NAME
    ws.metadata.forget_decisions(name)  # a rerun starts over, past the cool-down
    automate = ws.settings.automate
    policy = {**automate.models.get(name, {}), "holdout_days": HOLDOUT_DAYS}
    automate = automate.model_copy(
        update={"monitor": False, "models": {**automate.models, name: policy}}
    )  # monitoring has just run
    tick = Workspace(
        ws.settings.model_copy(update={"automate": automate}),
        SimulatedClock(at),
        ws.project_dir,
    )
    tick.audit.actor = CONTROLLER
    try:
        return Controller(tick).tick(name).decisions
    finally:
        tick.close()
