"""Replicas of one deployment: two `prodml serve` processes sharing PostgreSQL route every
caller to the same arm and both follow a rollback; one killed with SIGKILL mid-canary
loses no answered prediction and the canary goes on; with the database unreachable they
keep answering under the last policy they knew while the analysis decides nothing. The
servers judge the rollout themselves, one at a time, and a survivor takes over from a
killed judge."""

from __future__ import annotations

import os
import signal
import socket
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx
import numpy as np
import pytest

from prodml.errors import StoreError
from prodml.train import fit_model
from prodml.workspace import Workspace
from tests._data import TOY_SPEC, log_model_run
from tests._proxy import Proxy
from tests._server import prodml_process
from tests.conftest import fresh_schema
from tests.rollout._traffic import Traffic, labelled, until_decided

pytestmark = pytest.mark.postgres

SETTINGS = """\
serving:
  poll_seconds: 0.5
rollouts:
  in_server: false  # the test judges, tick by tick
  min_rows: 150
  min_step_rows: 150
  min_step_seconds: 1
metadata_url: {url}
"""
ROW = {"color": "red", "size": 0.5, "noise": None}


@pytest.fixture
def database(postgres_server) -> Iterator[tuple[str, Proxy]]:
    """A fresh schema, and a proxy in front of the database a test can cut."""
    with fresh_schema(postgres_server) as url:
        parts = urlsplit(url)
        proxy = Proxy((parts.hostname or "127.0.0.1", parts.port or 5432))
        netloc = f"{parts.username}@127.0.0.1:{proxy.port}"
        yield urlunsplit(parts._replace(netloc=netloc)), proxy
        proxy.mend()


@pytest.fixture
def project(tmp_path, database) -> Path:
    url, _ = database
    (tmp_path / "prodml.yaml").write_text(SETTINGS.format(url=url))
    rng = np.random.default_rng(0)
    with Workspace.open(tmp_path) as ws:
        for _ in range(2):
            model = fit_model("logistic", labelled(rng, 2000), "y", TOY_SPEC)
            ws.registry.register("toy", log_model_run(ws, model))
        ws.rollouts.create("api", "toy/1", actor="test")
    return tmp_path


def _arms(url: str, ids: list[str]) -> list[str]:
    with httpx.Client(base_url=url) as client:
        return [
            client.post("/v1/predict", json={"rows": [ROW]}, headers={"x-request-id": i}).json()[
                "arm"
            ]
            for i in ids
        ]


def _serving(url: str, kind: str) -> bool:
    models = httpx.get(f"{url}/v1/models").json()
    return models["policy"]["kind"] == kind


def test_two_replicas_agree_on_every_callers_arm_and_both_roll_back(project, tmp_path):
    ids = [f"caller-{i}" for i in range(200)]
    with (
        Workspace.open(project) as ws,
        prodml_process(project, "--deployment", "api", output=tmp_path / "a.log") as a,
        prodml_process(project, "--deployment", "api", output=tmp_path / "b.log") as b,
    ):
        ws.rollouts.canary("api", "2", actor="test", steps=(0.5, 1.0))
        deadline = time.monotonic() + 10
        while not (_serving(a.url, "canary") and _serving(b.url, "canary")):
            assert time.monotonic() < deadline, "a replica did not pick up the canary"
            time.sleep(0.1)
        arms = _arms(a.url, ids)
        assert arms == _arms(b.url, ids)
        assert 0.35 < arms.count("candidate") / len(arms) < 0.65
        changed = time.monotonic()
        ws.rollouts.rollback("api", actor="test", reason="drill")
        while not (_serving(a.url, "single") and _serving(b.url, "single")):
            assert time.monotonic() - changed < 0.5 + 1, "a replica missed the rollback"
            time.sleep(0.05)
        assert set(_arms(a.url, ids[:20]) + _arms(b.url, ids[:20])) == {"stable"}


def test_a_replica_killed_mid_canary_loses_no_answered_prediction(project, tmp_path):
    with Workspace.open(project) as ws:
        ws.rollouts.canary("api", "2", actor="test", steps=(0.25, 1.0))
        with (
            prodml_process(project, "--deployment", "api", output=tmp_path / "a.log") as a,
            Traffic(a.url).running() as callers,
        ):
            # Killed once it has answered 150 callers, however long a loaded machine takes.
            deadline = time.monotonic() + 60
            while sum(r is not None for r in callers.ids) < 150:
                assert time.monotonic() < deadline, "the replica answered too few callers"
                time.sleep(0.05)
            os.killpg(a.process.pid, signal.SIGKILL)
            a.process.wait(10)
        answered = {r for r in callers.ids if r is not None}
        assert len(answered) >= 150
        logged = set(ws.prediction_log("toy").read()["request_id"])
        assert answered <= logged  # every answer the callers got is in the log
        with prodml_process(project, "--deployment", "api", output=tmp_path / "b.log") as b:
            assert _serving(b.url, "canary")  # the restarted replica resumes the canary
            with Traffic(b.url).running():
                decisions, _ = until_decided(ws, "api", limit=60)
        assert decisions[-1].action == "promote", [d.reason for d in decisions]


def test_with_the_database_unreachable_replicas_answer_and_the_analysis_waits(
    project, tmp_path, database
):
    _, proxy = database
    with (
        Workspace.open(project) as ws,
        prodml_process(project, "--deployment", "api", output=tmp_path / "a.log") as a,
    ):
        ws.rollouts.canary("api", "2", actor="test", steps=(0.5, 1.0))
        deadline = time.monotonic() + 10
        while not _serving(a.url, "canary"):
            assert time.monotonic() < deadline
            time.sleep(0.1)
        with Traffic(a.url).running() as callers:
            time.sleep(1)
            proxy.cut()
            time.sleep(2)  # several polls fail meanwhile
            assert _serving(a.url, "canary")  # the last policy it knew
            with pytest.raises(StoreError):
                ws.analysis.tick("api")  # nothing is decided blind
            proxy.mend()
            decisions, _ = until_decided(ws, "api", limit=60)
        assert set(callers.statuses) == {200}
        assert decisions[-1].action == "promote"


def test_the_servers_judge_the_rollout_one_at_a_time_and_a_survivor_takes_over(project, tmp_path):
    env = {"PRODML_ROLLOUTS__IN_SERVER": "true", "PRODML_ROLLOUTS__INTERVAL_SECONDS": "0.5"}
    with (
        Workspace.open(project) as ws,
        prodml_process(project, "--deployment", "api", output=tmp_path / "a.log", env=env) as a,
        prodml_process(project, "--deployment", "api", output=tmp_path / "b.log", env=env) as b,
    ):
        ws.rollouts.canary("api", "2", actor="test", steps=(0.5, 1.0))
        judges = {_holder(a): a, _holder(b): b}
        judged = _judged_by(ws, after=2, limit=10)  # no traffic yet: the servers hold
        assert set(judged) <= set(judges)
        assert len(set(judged)) == 1  # one judge at a time
        leader = judges.pop(judged[0])
        _, survivor = judges.popitem()
        os.killpg(leader.process.pid, signal.SIGKILL)
        killed, killed_at = time.monotonic(), datetime.now(UTC)
        leader.process.wait(10)
        with Traffic(survivor.url).running() as callers:
            while ws.rollouts.status("api")[1].kind != "single":
                assert time.monotonic() - killed < 60, "the survivor did not finish the rollout"
                time.sleep(0.2)
        after = [e for e in ws.metadata.deployment_history("api") if e.at > killed_at]
        assert {e.figures["judged_by"] for e in after} == {_holder(survivor)}
        # its lease ran out after LEASE_INTERVALS (3) intervals of 0.5 s; the next pass took it
        assert (after[0].at - killed_at).total_seconds() < 3 * 0.5 + 0.5 + 1
        assert after[-1].action == "promote"
        assert set(callers.statuses) == {200}


def _holder(served) -> str:
    return f"{socket.gethostname()}-{served.process.pid}"


def _judged_by(ws: Workspace, *, after: int, limit: float) -> list[str]:
    """Who judged each of the first `after` analysis decisions, waiting up to `limit` s."""
    deadline = time.monotonic() + limit
    while True:
        judged = [
            e.figures["judged_by"]
            for e in ws.metadata.deployment_history("api")
            if e.actor == "analysis"
        ]
        if len(judged) >= after:
            return judged
        assert time.monotonic() < deadline, "no server judged the rollout"
        time.sleep(0.2)
