"""Faults a rollout must survive, each against real `prodml serve --deployment` processes:
a candidate that raises, scores NaN, answers 200 ms slower, fails one request in ten, is
subtly worse once labels arrive, or wants another input; each is rolled back by the check
made for it within 60 s of traffic, and no caller ever gets an error. A healthy candidate
is promoted through every step."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import numpy as np
import pytest

from prodml.train import fit_model
from prodml.train.encoding import FeatureSpec
from prodml.workspace import Workspace
from tests._data import TOY_SPEC, log_model_run
from tests._server import prodml_server
from tests.conftest import fresh_schema
from tests.rollout._faults import HOOK
from tests.rollout._traffic import Traffic, labelled, until_decided

STABLE, HEALTHY, WORSE, OTHER_SCHEMA = "1", "2", "3", "4"
SETTINGS = """\
serving:
  poll_seconds: 0.5
  candidate_timeout_ms: 1000  # the slow candidate is the latency check's to catch
rollouts:
  in_server: false  # the test judges, tick by tick
  min_rows: 150
  min_step_rows: 150
  min_step_seconds: 1
"""


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def project(request, tmp_path_factory) -> Iterator[Path]:
    """A project with the four versions, its metadata in SQLite or PostgreSQL."""
    with ExitStack() as stack:
        folder = tmp_path_factory.mktemp("rollouts")
        settings = SETTINGS
        if request.param == "postgres":
            url = stack.enter_context(fresh_schema(request.getfixturevalue("postgres_server")))
            settings += f"metadata_url: {url}\n"
        (folder / "prodml.yaml").write_text(settings)
        _register(folder)
        hook = folder / "hook"
        hook.mkdir()
        (hook / "sitecustomize.py").write_text(HOOK)
        yield folder


def _register(folder: Path) -> None:
    rng = np.random.default_rng(0)
    renamed = FeatureSpec(categorical=("color",), numeric=("girth", "noise"))
    with Workspace.open(folder) as ws:
        for frame, spec in (
            (labelled(rng, 3000), TOY_SPEC),  # 1: stable
            (labelled(rng, 3000), TOY_SPEC),  # 2: as good
            (labelled(rng, 3000, red=-0.75), TOY_SPEC),  # 3: subtly worse
            (labelled(rng, 3000).rename(columns={"size": "girth"}), renamed),  # 4
        ):
            model = fit_model("logistic", frame, "y", spec)
            ws.registry.register("toy", log_model_run(ws, model))
        ws.registry.set_alias("toy", "champion", STABLE)


@pytest.mark.parametrize(
    ("fault", "candidate", "check", "traffic", "analysis"),
    [
        ("raise", HEALTHY, "errors", {}, {}),
        ("nan", HEALTHY, "errors", {}, {}),
        # Its arm's lane scores one request at a time, so at most 5 candidate rows a second
        # come in, whatever the load: judged from 50 rows, not 150, it is caught in seconds.
        ("slow", HEALTHY, "latency", {}, {"min_rows": 50}),
        ("some", HEALTHY, "errors", {}, {}),
        # Labels decide this one: each step waits for enough of them (min_labelled_rows).
        (None, WORSE, "realized", {"rows": 20, "labels": True}, {"min_labelled_rows": 4000}),
        (None, OTHER_SCHEMA, "inputs", {}, {}),
    ],
    ids=["raises", "nan", "200-ms-slower", "one-in-ten-fails", "subtly-worse", "schema"],
)
def test_a_faulty_candidate_is_rolled_back_by_its_check_and_no_caller_sees_it(
    project, tmp_path, fault, candidate, check, traffic, analysis
):
    name = f"faults-{fault or candidate}"
    env = {"PYTHONPATH": str(project / "hook")}
    if fault:
        env |= {"TEST_FAULT": fault, "TEST_FAULT_VERSION": candidate}
    with Workspace.open(project) as ws:
        if analysis:
            ws.analysis.settings = ws.settings.rollouts.model_copy(update=analysis)
        ws.rollouts.create(name, f"toy/{STABLE}", actor="test")
        with prodml_server(
            project, "--deployment", name, output=tmp_path / "s.log", env=env
        ) as url:
            ws.rollouts.canary(name, candidate, actor="test", steps=(0.5, 1.0))
            with Traffic(url, **traffic).running() as callers:
                decisions, seconds = until_decided(ws, name)
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
            # A first step of a quarter: its 150 candidate rows take 600 requests, not 1,500.
            ws.rollouts.canary(name, HEALTHY, actor="test", steps=(0.25, 0.5, 1.0))
            with Traffic(url).running() as callers:
                decisions, _ = until_decided(ws, name, limit=120)
            actions = [d.action for d in decisions if d.action != "hold"]
            assert actions == ["advance", "advance", "promote"], [d.reason for d in decisions]
            assert set(callers.statuses) == {200}
            assert ws.registry.resolve("toy@champion").version == HEALTHY
            ws.registry.set_alias("toy", "champion", STABLE)  # as the other tests expect
