"""The replayed year (`prodml demo --replay`): July–December 2013 on the simulated clock,
three arms over the same flights.

- **frozen**: the January–May champion, left alone;
- **loop**: the champion behind deployment "flights", served over HTTP in requests of a
  schedule's next flights, each outcome fed back days after the flight, and the
  continuous-training controller ticking daily under the workspace's policy (it retrains,
  gates, canaries and promotes or rolls back by itself);
- **oracle**: refitted on every flight before the month at the start of each month;
- **bimonthly**: the oracle held to the loop's retrain budget (half the oracle's): the
  first month's refit serves two months, the third month's the next two, and so on, each
  live from its month's first flight. What the budget alone costs, before any delay of
  the loop's own (alerts, labels three days late, a canary's evidence).

The frozen and oracle arms score exactly the rows the loop's server answered (its logged
inputs and looked-up features), so the three differ only in the model.
"""

from __future__ import annotations

import shutil
import time
from collections import deque
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from prodml.automate.controller import (
    FAILED,
    PROMOTE,
    RETRAINED_KIND,
    RETRAINING,
    ROLLBACK,
    ROLLOUT,
    Controller,
)
from prodml.clock import SimulatedClock
from prodml.demo import flights
from prodml.demo.feed import Feed
from prodml.features.definitions import FeatureService
from prodml.monitor.traffic import traffic_frame
from prodml.serve import create_app
from prodml.serve.server import BackgroundServer
from prodml.store import Decision
from prodml.train.model import TrainedModel
from prodml.train.tabular import fit
from prodml.workspace import Workspace

MODEL, DEPLOYMENT = flights.MODEL_NAME, "flights"
ARMS = ("frozen", "loop", "oracle", "bimonthly")
REQUEST_ROWS = 120  # flights per request, in departure order: a schedule as it firms up
LABEL_DELAY = timedelta(days=3)  # an outcome is known (and fed back) days after the flight
TICK_EVERY = timedelta(days=1)  # the controller's CronJob
# Monitoring windows of a week (~6,000 flights), judged each Monday: a day's few hundred
# judge AUC with an interval too wide to act on, and its alerts flap from day to day.
MONITOR_EVERY = "W-MON"
# The decisions a reader of the replay wants; `evaluated` and `skipped` come every tick.
SHOWN = (RETRAINING, RETRAINED_KIND, FAILED, ROLLOUT, PROMOTE, ROLLBACK, "advance")


@dataclass(frozen=True)
class ReplayPlan:
    """Which months of 2013 to replay, and every how many flights to send (1: all)."""

    months: tuple[int, ...] = (7, 8, 9, 10, 11, 12)
    every: int = 1

    def describe(self) -> str:
        first, last = (
            pd.Timestamp(2013, m, 1).strftime("%b") for m in (self.months[0], self.months[-1])
        )
        return first if first == last else f"{first}–{last}"


@dataclass
class Month:
    """One replayed month: flights answered, each arm's realized AUC, models trained."""

    start: pd.Timestamp
    rows: int
    auc: dict[str, float]
    trained: dict[str, int]


@dataclass
class ReplayReport:
    """What the replay measured (see `figures` for the targets' numbers)."""

    months: list[Month] = field(default_factory=list)
    decisions: list[Decision] = field(default_factory=list)
    requests: int = 0
    failed: int = 0
    labels: int = 0
    ticks: int = 0
    locked_ticks: int = 0  # ticks that found another controller holding the model
    final_champion: str = ""  # the loop's champion when the replay ended
    seconds: float = 0.0
    page: str = ""

    def mean_auc(self, arm: str) -> float:
        """`arm`'s mean monthly AUC over the replayed months."""
        values = [m.auc[arm] for m in self.months]
        return float(np.mean(values)) if values else float("nan")

    def trained(self, arm: str) -> int:
        return sum(m.trained[arm] for m in self.months)

    def figures(self) -> dict[str, Any]:
        """The targets' figures: mean AUC per arm, retrains, failed requests, time, and
        the share of the oracle's gain over the frozen model that the loop achieved."""
        mean = {arm: self.mean_auc(arm) for arm in ARMS}
        gain = mean["oracle"] - mean["frozen"]
        return {
            "months": len(self.months),
            **{f"{arm}_mean_auc": round(mean[arm], 4) for arm in ARMS},
            **{f"{arm}_retrains": self.trained(arm) for arm in ARMS[1:]},
            "loop_minus_oracle_auc": round(mean["loop"] - mean["oracle"], 4),
            "bimonthly_minus_oracle_auc": round(mean["bimonthly"] - mean["oracle"], 4),
            "months_loop_below_frozen_after_first_retrain": self.below_frozen(),
            "requests": self.requests,
            "failed_requests": self.failed,
            "labels": self.labels,
            "controller_ticks": self.ticks,
            "final_champion": self.final_champion,
            "locked_ticks": self.locked_ticks,
            "seconds": round(self.seconds, 1),
            "gain_vs_oracle_ratio": round((mean["loop"] - mean["frozen"]) / gain, 3)
            if gain > 0
            else None,
        }

    def below_frozen(self) -> list[str]:
        """Months after the loop's first promotion in which it scored below the frozen
        model (the target is none)."""
        promoted = [d.at for d in self.decisions if d.kind == PROMOTE]
        if not promoted:
            return []
        first = pd.Timestamp(min(promoted)).tz_convert(flights.TIMEZONE)
        return [
            f"{m.start:%b}"
            for m in self.months
            if m.start > first and m.auc["loop"] < m.auc["frozen"]
        ]


def replay_year(
    ws: Workspace,
    examples: pd.DataFrame,
    service: FeatureService,
    plan: ReplayPlan = ReplayPlan(),
    *,
    request_rows: int = REQUEST_ROWS,
    on_request: Callable[[int, int], None] = lambda done, total: None,
) -> ReplayReport:
    """Replay `plan`'s months of 2013 (of `examples`, every flight with its features as of
    its departure and its outcome; every `plan.every`-th flight only, for a quicker run) against
    `ws`'s champion of the flights model, which must be the January–May model;
    `on_request(done, total)` hears each request sent."""
    started = time.perf_counter()
    months = sorted(plan.months)
    local = examples[flights.EVENT_TIME].dt.tz_convert(flights.TIMEZONE)
    traffic = examples[local.dt.month.isin(months)].sort_values(flights.EVENT_TIME)
    traffic = traffic.iloc[:: plan.every].reset_index(drop=True)
    times = traffic[flights.EVENT_TIME]
    folder = _start_over(ws)
    base, frozen = ws.registry.load(f"{MODEL}@champion")
    clock = SimulatedClock(times.iloc[0].to_pydatetime())
    # Everything below on replayed time, the features served from an online store of
    # the replay's own (the workspace's may hold later values, which would be the future).
    online = f"sqlite:///{folder / 'online.db'}"
    monitoring = ws.settings.monitoring.model_copy(update={"freq": MONITOR_EVERY})
    # Monitoring runs as its own weekly job, as each window closes; the controller's
    # daily tick acts on the alerts it left (and judges the rollouts itself).
    automate = ws.settings.automate.model_copy(update={"monitor": False})
    settings = ws.settings.model_copy(
        update={"online_store_url": online, "monitoring": monitoring, "automate": automate}
    )
    replay = Workspace(settings, clock, ws.project_dir)
    replay.rollouts.create(DEPLOYMENT, f"{MODEL}@champion", actor="prodml demo")
    feed = Feed(replay.online_store, service, times.iloc[0], times.iloc[-1])
    report = ReplayReport()
    served = _Served(replay, clock, traffic, report)
    controller = Controller(replay)
    next_tick = times.iloc[0].normalize() + TICK_EVERY
    try:
        with served:
            total = -(-len(traffic) // request_rows)
            for done, first in enumerate(range(0, len(traffic), request_rows), 1):
                chunk = traffic.iloc[first : first + request_rows]
                when = chunk[flights.EVENT_TIME].iloc[0]
                while next_tick <= when:  # the day's tick comes before its traffic
                    clock.set(next_tick.to_pydatetime())
                    served.feed_back(next_tick)
                    if next_tick.weekday() == 0:  # a weekly window has closed
                        replay.monitor(MODEL)
                    report.ticks += 1
                    report.locked_ticks += controller.tick(MODEL).locked
                    served.deployment.check()
                    next_tick += TICK_EVERY
                clock.set(when.to_pydatetime())
                feed.until(when)
                served.feed_back(when)
                served.ask(chunk)
                on_request(done, total)
        answered = traffic_frame(replay.prediction_log(MODEL).read())
        report.decisions = [d for d in replay.metadata.list_decisions(MODEL) if d.kind in SHOWN]
        report.months = _months(examples, traffic, answered, frozen, served, report.decisions)
        report.final_champion = replay.registry.resolve(f"{MODEL}@champion").version
    finally:
        replay.close()
        # The next demo's training is judged against the January–May model again, not
        # against a retrain on months it is about to be replayed over.
        if ws.registry.resolve(f"{MODEL}@champion").version != base.version:
            ws.registry.promote(
                base.ref,
                "champion",
                now=ws.clock.now(),
                actor="prodml demo",
                reason="the replay is over: the demo's own model is champion again",
            )
    report.seconds = time.perf_counter() - started
    return report


class _Served:
    """The loop's server (deployment "flights", followed as the controller changes it)
    and its callers: each request's rows go out, each answer's score is kept, and each
    outcome is posted back `LABEL_DELAY` after its flight."""

    def __init__(
        self, ws: Workspace, clock: SimulatedClock, traffic: pd.DataFrame, report: ReplayReport
    ) -> None:
        self.ws, self.clock, self.traffic, self.report = ws, clock, traffic, report
        self.deployment = ws.follow_deployment(DEPLOYMENT)
        self.log = ws.prediction_log(MODEL)  # as `prodml serve --deployment` logs
        # A candidate gets seconds, not serving's 50 ms: the controller trains the next
        # model in this process meanwhile, and its lane would be judged on those stalls.
        self.app = create_app(
            self.deployment, self.log, clock, labels=ws.metadata, candidate_timeout_ms=5000
        )
        self.fields = list(self.deployment.current.row_schema.model_fields)
        self.scores = np.full(len(traffic), np.nan)
        self.rows: dict[str, np.ndarray] = {}  # request id -> the traffic rows it asked
        self.pending: deque[tuple[pd.Timestamp, str, np.ndarray]] = deque()

    def __enter__(self) -> _Served:
        self.stack = ExitStack()
        self.stack.enter_context(self.log)
        server = self.stack.enter_context(BackgroundServer(self.app))
        self.client = self.stack.enter_context(httpx.Client(base_url=server.url, timeout=60))
        return self

    def __exit__(self, *_: object) -> None:
        self.stack.close()

    def ask(self, chunk: pd.DataFrame) -> None:
        """One request of `chunk`'s flights, answered at the first one's time."""
        rows = chunk[self.fields].astype(object).where(chunk[self.fields].notna(), None)
        request_id = f"flight-{chunk['flight_id'].iloc[0]}"  # the same arm every run
        response = self.client.post(
            "/v1/predict",
            json={"rows": rows.to_dict("records")},
            headers={"x-request-id": request_id},
        )
        self.report.requests += 1
        if response.status_code != 200:
            self.report.failed += 1
            return
        answers = response.json()["predictions"]
        self.scores[chunk.index] = [a["probability"] for a in answers]
        self.rows[request_id] = chunk.index.to_numpy()
        due = chunk[flights.EVENT_TIME].iloc[-1] + LABEL_DELAY
        self.pending.append((due, request_id, chunk[flights.LABEL].to_numpy()))

    def feed_back(self, now: pd.Timestamp) -> None:
        """Post every outcome due by `now`, as the airline's arrivals feed would."""
        labels = []
        while self.pending and self.pending[0][0] <= now:
            _, request_id, outcomes = self.pending.popleft()
            labels += [
                {"request_id": request_id, "row": i, "label": int(y)}
                for i, y in enumerate(outcomes)
            ]
        if labels:
            response = self.client.post("/v1/feedback", json={"labels": labels})
            response.raise_for_status()
            self.report.labels += len(labels)


def _start_over(ws: Workspace) -> Path:
    """Forget an earlier replay (the deployment, findings, labels, decisions, the log,
    its online store); returns the replay's folder, emptied."""
    ws.metadata.forget_deployment(DEPLOYMENT)
    ws.metadata.forget_monitoring(MODEL)
    ws.metadata.forget_decisions(MODEL)
    shutil.rmtree(ws.prediction_log(MODEL).folder, ignore_errors=True)
    folder = ws.state_dir / "demo" / "replay"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    return folder


def _months(
    examples: pd.DataFrame,
    traffic: pd.DataFrame,
    answered: pd.DataFrame,
    frozen: TrainedModel,
    served: _Served,
    decisions: list[Decision],
) -> list[Month]:
    """Each month's realized AUC per arm on the rows the server answered."""
    position = np.array(
        [served.rows[r][i] for r, i in zip(answered["request_id"], answered["row"], strict=True)]
    )
    answered = answered.assign(__flight=position).sort_values("__flight")
    outcome = traffic[flights.LABEL].to_numpy()[answered["__flight"]]
    local = traffic[flights.EVENT_TIME].dt.tz_convert(flights.TIMEZONE).iloc[answered["__flight"]]
    month_start = local.dt.tz_localize(None).dt.to_period("M").dt.start_time.to_numpy()
    trained_by_month = _trained(decisions)
    out = []
    for i, start in enumerate(sorted(set(month_start))):
        mask = month_start == start
        begins = pd.Timestamp(start).tz_localize(flights.TIMEZONE)
        oracle = _oracle(examples, frozen, begins)
        if i % 2 == 0:  # the bimonthly arm refits every other month, and keeps it
            bimonthly = oracle
        these = answered[mask]
        scores = {
            "frozen": frozen.predict_frame(these, num_threads=0),
            "loop": served.scores[these["__flight"].to_numpy()],
            "oracle": oracle.predict_frame(these, num_threads=0),
            "bimonthly": bimonthly.predict_frame(these, num_threads=0),
        }
        y = outcome[mask]
        out.append(
            Month(
                begins,
                int(mask.sum()),
                {arm: float(roc_auc_score(y, s)) for arm, s in scores.items()},
                {
                    "frozen": 0,
                    "loop": trained_by_month.get(begins.month, 0),
                    "oracle": 1,
                    "bimonthly": int(i % 2 == 0),
                },
            )
        )
    return out


def _oracle(examples: pd.DataFrame, like: TrainedModel, month: pd.Timestamp) -> TrainedModel:
    """The champion's kind of model (flavor, parameters, inputs) refitted on every flight
    scheduled before `month`, its outcome known: the best a monthly retrain could do."""
    before = examples[examples[flights.EVENT_TIME] < month.tz_convert("UTC")]
    spec = like.spec
    return fit(
        before,
        like.flavor,
        {k: v for k, v in like.params.items() if k != "num_boost_round"},
        {"categorical": list(spec.categorical), "numeric": list(spec.numeric)},
        flights.LABEL,
        seed=0,
        task="classification",
        time_column=flights.EVENT_TIME,
    )


def _trained(decisions: list[Decision]) -> dict[int, int]:
    """Models the loop trained, by calendar month (New York time) of the decision."""
    counts: dict[int, int] = {}
    for d in decisions:
        if d.kind == RETRAINED_KIND:
            month = pd.Timestamp(d.at).tz_convert(flights.TIMEZONE).month
            counts[month] = counts.get(month, 0) + 1
    return counts


def as_dict(report: ReplayReport) -> dict[str, Any]:
    """The report as JSON-ready data (`prodml demo --replay --json`, the benchmark)."""
    return {
        "figures": report.figures(),
        "months": [{**asdict(m), "start": m.start.strftime("%Y-%m")} for m in report.months],
        "decisions": [
            {"at": d.at.isoformat(), "kind": d.kind, "version": d.version, "reason": d.reason}
            for d in report.decisions
        ],
    }
