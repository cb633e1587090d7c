"""The demo's rollouts, over replayed July traffic at each flight's own time: a retrained
version goes out as a canary and the analysis advances it step by step to promotion as
outcomes come back; then a version that learned nothing (one score for every flight) goes
out the same way and the analysis rolls it back, while every caller is answered."""

from __future__ import annotations

import dataclasses
import shutil
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, cast

import httpx
import pandas as pd

from prodml.clock import SimulatedClock
from prodml.demo import flights
from prodml.demo.cast import Cast
from prodml.features.definitions import FeatureService
from prodml.rollout.analysis import HOLD, PROMOTE, ROLLBACK, Analysis
from prodml.rollout.gauges import RolloutCollector
from prodml.serve import create_app
from prodml.serve.server import BackgroundServer
from prodml.train.encoding import FeatureSpec
from prodml.train.tabular import Candidate, Recipe
from prodml.workflow import train_and_register
from prodml.workspace import Workspace

DEPLOYMENT = "flights"
LOG = "demo-rollout"
TICK_EVERY = 100  # requests between two analyses
LABEL_DELAY = timedelta(hours=3)  # a flight's outcome is known once it has landed
# Faster than production's defaults, for a replay of a few thousand requests.
SETTINGS = {
    "min_rows": 100,
    "min_step_rows": 150,
    "min_step_seconds": 6 * 3600,
    "min_labelled_rows": 100,  # each step waits for outcomes, not only for traffic
}
STEPS = (0.1, 0.5, 1.0)
# The retrained version: smaller trees, another seed for its row and feature samples.
RETRAINED = Candidate("lightgbm", "lightgbm", {"num_leaves": 31, "seed": 1})
BROKEN = Candidate("constant", "majority")  # the base rate for every flight


@dataclass
class Rollout:
    """One canary as the demo saw it: the candidate, each decision of the analysis (the
    simulated time, the action, why), the callers sent and how many got an error."""

    candidate: str
    what: str
    decisions: list[dict[str, Any]] = field(default_factory=list)
    requests: int = 0
    errors: int = 0
    labels: int = 0

    @property
    def outcome(self) -> str:
        return self.decisions[-1]["action"] if self.decisions else "none"


def run_rollouts(
    ws: Workspace,
    service: FeatureService,
    spec: FeatureSpec,
    examples: pd.DataFrame,
    july: pd.DataFrame,
    snapshots: dict[str, str],
    feed: Callable[[pd.Timestamp], None],
    advance: Callable[[int], None],
    people: Cast,
) -> list[Rollout]:
    """Train the two candidates, then roll each out over `july` (flights in time order,
    with their outcomes) behind deployment "flights" of the champion; `feed(t)` brings
    the online store up to time t. The data scientist trains and starts each canary; the
    servers take the client's and the labeler's tokens."""
    name = flights.MODEL_NAME
    inputs = {n: ws.metadata.get_snapshot(sid) for n, sid in snapshots.items()}
    feature_service = (service.name, service.version)
    versions = {}
    for label, candidate in (("retrained", RETRAINED), ("broken", BROKEN)):
        recipe = Recipe(examples, flights.train_spec(spec, candidate), feature_service)
        with people.acting(ws, "data-scientist"):
            registered = train_and_register(
                ws,
                recipe,
                inputs=inputs,
                recorded_as=flights.RECIPE,  # reproducible, as the champion is
                config={"candidate": dataclasses.asdict(candidate)},
            )
        versions[label] = registered.version.version
        advance(1)
    clock = SimulatedClock(july[flights.EVENT_TIME].iloc[0].to_pydatetime())
    replay = Workspace.open(ws.project_dir, clock)  # the servers and analysis on replay time
    replay.metadata.forget_deployment(DEPLOYMENT)  # a rerun starts over
    replay.metadata.forget_monitoring(name)
    log = replay.prediction_log(LOG)
    shutil.rmtree(log.folder, ignore_errors=True)
    scientist = people.names["data-scientist"]
    replay.rollouts.create(DEPLOYMENT, f"{name}@champion", actor=scientist)
    analysis = Analysis(
        replay.rollouts,
        lambda _, since: log.read(since=since),
        replay.reference_or_none,
        replay.settings.rollouts.model_copy(update=SETTINGS),
    )
    flights_left = iter(cast("list[dict[str, Any]]", july.to_dict("records")))
    done = []
    with _server(replay, log, clock, ws, people) as (client, deployment):
        for label, what in (
            ("retrained", "retrained on the same months: smaller trees, another seed"),
            ("broken", "learned nothing: the base rate for every flight"),
        ):
            rollout = Rollout(versions[label], what)
            replay.rollouts.canary(
                DEPLOYMENT, versions[label], actor=scientist, steps=STEPS, reason=f"try {what}"
            )
            deployment.check()
            _replay(
                client,
                deployment,
                analysis,
                flights_left,
                clock,
                feed,
                rollout,
                advance,
                people.headers("labeler"),
            )
            done.append(rollout)
    replay.close()
    return done


@contextmanager
def _server(
    ws: Workspace, log: Any, clock: SimulatedClock, live: Workspace, people: Cast
) -> Iterator[tuple[httpx.Client, Any]]:
    """The deployment's server on replay time, checking tokens against `live`'s clock
    (they were issued today, not in 2013); the client sends the client role's token."""
    deployment = ws.follow_deployment(DEPLOYMENT)
    app = create_app(
        deployment,
        log,
        clock,
        labels=ws.metadata,
        collectors=[RolloutCollector(ws.metadata, DEPLOYMENT)],
        # Seconds, not serving's 50 ms: on replayed time a wall-clock timeout would only
        # add the machine's load to the story.
        candidate_timeout_ms=5000,
        guard=live.guard,
    )
    headers = people.headers("client")
    with (
        log,
        BackgroundServer(app) as server,
        httpx.Client(base_url=server.url, headers=headers) as client,
    ):
        yield client, deployment


def _replay(
    client: httpx.Client,
    deployment: Any,
    analysis: Analysis,
    flights_left: Iterator[dict[str, Any]],
    clock: SimulatedClock,
    feed: Callable[[pd.Timestamp], None],
    rollout: Rollout,
    advance: Callable[[int], None],
    labeler: dict[str, str],
) -> None:
    """Send flights until the analysis promotes or rolls the candidate back; each
    flight's outcome is fed back once it has landed (with the `labeler`'s token)."""
    fields = list(deployment.current.row_schema.model_fields)
    landed: deque[tuple[pd.Timestamp, str, int]] = deque()
    for row in flights_left:
        when = row[flights.EVENT_TIME]
        clock.set(when.to_pydatetime())
        feed(when)
        request = {"rows": [{k: _plain(row.get(k)) for k in fields}]}
        # Named by its flight, as the demo's live callers and the replayed year do: the hash
        # that routes a request to an arm then picks the same arms on every run, so each
        # canary's path is the data's, not the luck of a random request id.
        named = {"x-request-id": f"flight-{row['flight_id']}"}
        response = client.post("/v1/predict", json=request, headers=named)
        rollout.requests += 1
        advance(1)
        if response.status_code != 200:
            rollout.errors += 1
        else:
            landed.append((when + LABEL_DELAY, response.json()["request_id"], row[flights.LABEL]))
        labels = []
        while landed and landed[0][0] <= when:
            _, request_id, delayed = landed.popleft()
            labels.append({"request_id": request_id, "label": int(delayed)})
        if labels:
            client.post("/v1/feedback", json={"labels": labels}, headers=labeler)
            rollout.labels += len(labels)
        if rollout.requests % TICK_EVERY == 0:
            decision = analysis.tick(DEPLOYMENT)
            if decision.action != HOLD or not rollout.decisions:
                rollout.decisions.append(
                    {"at": clock.now(), "action": decision.action, "reason": decision.reason}
                )
            deployment.check()  # servers pick it up within serving.poll_seconds
            if decision.action in (PROMOTE, ROLLBACK):
                return


def _plain(value: Any) -> Any:
    if value is None or (isinstance(value, float) and value != value):
        return None
    if hasattr(value, "item"):
        return value.item()
    return value
