"""Faults a rollout must survive, each against real `prodml serve --deployment` processes:
a candidate that raises, scores NaN, answers 10x slower, fails one request in ten, is
subtly worse once labels arrive, or wants another input; each is rolled back by the check
made for it within 60 s of traffic, and no caller ever gets an error. A healthy candidate
is promoted through every step."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest

from prodml.train import fit_model
from prodml.train.encoding import FeatureSpec
from prodml.workspace import Workspace
from tests._data import TOY_SPEC, log_model_run, toy_frame
from tests._server import prodml_server
from tests.rollout._faults import HOOK

STABLE, HEALTHY, WORSE, OTHER_SCHEMA = "1", "2", "3", "4"
SETTINGS = """\
serving:
  poll_seconds: 0.5
rollouts:
  min_rows: 150
  min_step_rows: 150
  min_step_seconds: 1
"""


def _labelled(rng: np.random.Generator, n: int, red: float = 1.0) -> pd.DataFrame:
    """Toy rows whose truth leans on red by `red`. A model trained on the wrong lean
    (-0.75) is subtly worse, about 0.05 ROC AUC, with the same base rate (a third of the
    rows are red), so its scores look much like the stable's."""
    frame = toy_frame(rng, n)
    logit = 1.5 * frame["size"] + ((frame["color"] == "red") - 1 / 3) * red - 0.5 + 1 / 3
    frame["y"] = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    return frame


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("rollouts")
    (folder / "prodml.yaml").write_text(SETTINGS)
    rng = np.random.default_rng(0)
    renamed = FeatureSpec(categorical=("color",), numeric=("girth", "noise"))
    with Workspace.open(folder) as ws:
        for frame, spec in (
            (_labelled(rng, 3000), TOY_SPEC),  # 1: stable
            (_labelled(rng, 3000), TOY_SPEC),  # 2: as good
            (_labelled(rng, 3000, red=-0.75), TOY_SPEC),  # 3: subtly worse
            (_labelled(rng, 3000).rename(columns={"size": "girth"}), renamed),  # 4
        ):
            model = fit_model("logistic", frame, "y", spec)
            ws.registry.register("toy", log_model_run(ws, model))
        ws.registry.set_alias("toy", "champion", STABLE)
    hook = folder / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(HOOK)
    return folder


class Traffic:
    """Callers in a thread: one-row... `rows` rows per request, labels fed back after
    each request, every status kept."""

    def __init__(self, url: str, *, rows: int = 1, labels: bool = False) -> None:
        self.url, self.rows, self.labels = url, rows, labels
        self.statuses: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        rng = np.random.default_rng(1)
        with httpx.Client(base_url=self.url, timeout=10) as client:
            while not self._stop.is_set():
                frame = _labelled(rng, self.rows)
                inputs = frame[list(TOY_SPEC.names)]
                rows = inputs.astype(object).where(inputs.notna(), None).to_dict("records")
                response = client.post("/v1/predict", json={"rows": rows})
                self.statuses.append(response.status_code)
                if self.labels and response.status_code == 200:
                    request = response.json()["request_id"]
                    labels = [
                        {"request_id": request, "row": i, "label": int(y)}
                        for i, y in enumerate(frame["y"])
                    ]
                    client.post("/v1/feedback", json={"labels": labels})

    @contextmanager
    def running(self) -> Iterator[Traffic]:
        self._thread.start()
        try:
            yield self
        finally:
            self._stop.set()
            self._thread.join(30)


def _until_decided(ws: Workspace, name: str, *, limit: float = 60.0) -> tuple[list, float]:
    """Tick every second until the rollout is promoted or rolled back; the decisions and
    the seconds of traffic it took."""
    started, decisions = time.monotonic(), []
    while time.monotonic() - started < limit:
        time.sleep(1)
        decision = ws.analysis.tick(name)
        decisions.append(decision)
        if decision.action in ("promote", "rollback"):
            break
    return decisions, time.monotonic() - started


@pytest.mark.parametrize(
    ("fault", "candidate", "check", "traffic"),
    [
        ("raise", HEALTHY, "errors", {}),
        ("nan", HEALTHY, "errors", {}),
        ("slow", HEALTHY, "latency", {}),
        ("some", HEALTHY, "errors", {}),
        # Labels decide this one: each step waits for enough of them (min_labelled_rows).
        (None, WORSE, "realized", {"rows": 20, "labels": True}),
        (None, OTHER_SCHEMA, "inputs", {}),
    ],
    ids=["raises", "nan", "ten-times-slower", "one-in-ten-fails", "subtly-worse", "schema"],
)
def test_a_faulty_candidate_is_rolled_back_by_its_check_and_no_caller_sees_it(
    project, tmp_path, fault, candidate, check, traffic
):
    name = f"faults-{fault or candidate}"
    env = {"PYTHONPATH": f"{project / 'hook'}:{Path.cwd()}"}
    if fault:
        env |= {"TEST_FAULT": fault, "TEST_FAULT_VERSION": candidate}
    with Workspace.open(project) as ws:
        if traffic.get("labels"):
            ws.analysis.settings = ws.settings.rollouts.model_copy(
                update={"min_labelled_rows": 4000}
            )
        ws.rollouts.create(name, f"toy/{STABLE}", actor="test")
        with prodml_server(
            project, "--deployment", name, output=tmp_path / "s.log", env=env
        ) as url:
            ws.rollouts.canary(name, candidate, actor="test", steps=(0.5, 1.0))
            with Traffic(url, **traffic).running() as callers:
                decisions, seconds = _until_decided(ws, name)
        last = decisions[-1]
        assert last.action == "rollback", [d.reason for d in decisions]
        assert last.reason.startswith(f"{check} check failed"), last.reason
        assert seconds < 60
        assert callers.statuses
        assert set(callers.statuses) == {200}  # no caller got an error
        assert ws.rollouts.status(name)[1].kind == "single"


def test_a_healthy_candidate_is_promoted_through_every_step(project, tmp_path):
    name = "healthy"
    with Workspace.open(project) as ws:
        ws.rollouts.create(name, f"toy/{STABLE}", actor="test")
        with prodml_server(project, "--deployment", name, output=tmp_path / "s.log") as url:
            ws.rollouts.canary(name, HEALTHY, actor="test", steps=(0.1, 0.5, 1.0))
            with Traffic(url).running() as callers:
                decisions, _ = _until_decided(ws, name, limit=120)
            actions = [d.action for d in decisions if d.action != "hold"]
            assert actions == ["advance", "advance", "promote"], [d.reason for d in decisions]
            assert set(callers.statuses) == {200}
            assert ws.registry.resolve("toy@champion").version == HEALTHY
            ws.registry.set_alias("toy", "champion", STABLE)  # as the other tests expect
