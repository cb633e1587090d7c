"""The API as `prodml serve` runs it: the deployment, its prediction log and the app.

With ``--workers N`` uvicorn starts N processes that each import `worker_app` by name and
build their own app from the project's settings (the CLI passes its options on as
``PRODML_SERVING__*`` variables). Each worker, and each single-process replica, logs to a
subfolder of its own in the model's prediction log, so processes never share a file.
"""

from __future__ import annotations

import gc
import os
import sys
from pathlib import Path

from fastapi import FastAPI
from prometheus_client.registry import Collector

from prodml.cli._common import served_model
from prodml.monitor.gauges import FindingsCollector
from prodml.rollout.gauges import RolloutCollector
from prodml.rollout.leader import Leader
from prodml.serve import Deployment, create_app
from prodml.serve.metrics_share import MetricsShare
from prodml.serve.presence import Presence, advertised_url
from prodml.workspace import Workspace

# The variable naming the folder where a server's workers share their counts (set by
# `prodml serve --workers N`, emptied by it at each start).
METRICS_SHARE = "PRODML_METRICS_SHARE"


def build(
    ws: Workspace,
    model: str | None = None,
    *,
    coverage: float | None = None,
    follow: bool | None = None,
    worker: str | None = None,
    deployment_name: str | None = None,
    metrics_share: MetricsShare | None = None,
) -> tuple[FastAPI, Deployment]:
    """The app serving deployment `deployment_name` (default: serving.deployment) if there
    is one, else `model` (default: serving.model), following its alias unless `follow`
    (default: serving.follow) is false."""
    settings = ws.settings.serving
    deployment_name = deployment_name or (None if model else settings.deployment)
    if deployment_name:
        deployment = ws.follow_deployment(deployment_name, coverage=coverage)
    else:
        deployment = ws.deployment(
            served_model(ws, model),
            coverage=coverage,  # the workspace's predictor falls back on serving.coverage
            follow=settings.follow if follow is None else follow,
        )
    name = deployment.current.info.name
    history = ws.prediction_log(name)
    log = history if worker is None else history.writer(worker)
    # /metrics also carries the monitoring gauges of the model served (drift, performance),
    # and a deployment's rollout decisions.
    gauges: list[Collector] = [FindingsCollector(ws.metadata, name)]
    if deployment_name:
        gauges.append(RolloutCollector(ws.metadata, deployment_name))
    app = create_app(
        deployment,
        log,
        ws.clock,
        labels=ws.metadata,
        collectors=gauges,
        candidate_timeout_ms=settings.candidate_timeout_ms,
        guard=ws.guard if ws.settings.governance.auth else None,
        overrides=ws.overrides,
        history=history,
        metrics_share=metrics_share,
    )
    if ws.settings.ui.in_server:  # the console beside the API, at a path of its own
        from prodml.ui import create_ui

        app.mount("/ui", create_ui(ws))
    return app, deployment


def leader(ws: Workspace, deployment_name: str | None) -> Leader | None:
    """The rollout analysis this server runs for deployment `deployment_name` while it
    holds the deployment's lease (None when it serves no deployment, or
    rollouts.in_server is off)."""
    settings = ws.settings.rollouts
    if not deployment_name or not settings.in_server:
        return None
    return Leader(ws.analysis, ws.metadata, deployment_name, settings.interval_seconds)


# How long a thread may keep the GIL while another waits for it. Python's 5 ms suits
# batch work; a server's helper threads (an arm's lane, the log's fsync, the policy
# follower) would hold a waiting request that long. Measured with benchmarks/rollout.py:
# a shadow's added one-client p99 fell by about a third, saturation unchanged.
SWITCH_INTERVAL_S = 0.0002


def settle() -> None:
    """Before a server process takes traffic: what it loaded (the model, the app, the
    libraries) leaves the garbage collector's care, so a full collection walks only what
    requests allocate and no longer pauses answers for tens of milliseconds; and the
    event loop waits at most `SWITCH_INTERVAL_S` for a helper thread to give up the GIL."""
    gc.collect()
    gc.freeze()
    sys.setswitchinterval(SWITCH_INTERVAL_S)


def worker_app() -> FastAPI:
    """One server worker's app (a uvicorn factory), from the project in the working folder;
    it shares its metrics with the other workers in the folder `METRICS_SHARE` names."""
    ws = Workspace.open(Path.cwd())
    worker = f"worker-{os.getpid()}"
    folder = os.environ.get(METRICS_SHARE)
    share = MetricsShare(Path(folder), worker) if folder else None
    app, deployment = build(ws, worker=worker, metrics_share=share)
    deployment.follow()
    serving = ws.settings.serving
    judge = leader(ws, serving.deployment)
    if judge is not None:  # stopped with the process; its lease then expires
        judge.start()
    if serving.deployment:  # so is its presence
        url = advertised_url(serving.host, serving.port, serving.advertise)
        Presence(ws.metadata, serving.deployment, url).start()
    settle()
    return app
