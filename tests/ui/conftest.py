"""Projects for the console's tests: "registered" (a gated champion trained from a snapshot,
version 1, and a version registered from a notebook, version 2), and "lived" (a champion
served through a change of concept, monitored, retrained by continuous training and in
canary behind deployment "toy-api"), each with the console over it."""

import re
from collections.abc import Iterator
from datetime import timedelta

import numpy as np
import pytest
from starlette.testclient import TestClient

from prodml.automate import Controller
from prodml.clock import SimulatedClock
from prodml.train import fit_model
from prodml.ui import create_ui
from prodml.workspace import Workspace
from tests._data import TOY_SPEC, log_model_run, toy_frame
from tests.automate import _world


@pytest.fixture
def registered(workspace):
    _world.champion(workspace)
    model = fit_model("logistic", toy_frame(np.random.default_rng(3), 500), "y", TOY_SPEC)
    workspace.registry.register("toy", log_model_run(workspace, model))
    return workspace


@pytest.fixture
def console(registered):
    with TestClient(create_ui(registered)) as client:
        yield client


@pytest.fixture(scope="module")
def lived(tmp_path_factory) -> Iterator[Workspace]:
    """A project that went through the loop once, with governance.auth on."""
    ws = Workspace.open(tmp_path_factory.mktemp("lived"), SimulatedClock(_world.START))
    policy = {**_world.POLICY, "monitor": True}
    ws.settings = ws.settings.model_copy(
        update={
            "automate": type(ws.settings.automate).model_validate(policy),
            "governance": ws.settings.governance.model_copy(update={"auth": True}),
        }
    )
    _world.champion(ws)
    traffic = _world.rows(1500, _world.START + timedelta(days=95), shifted=True, seed=1)
    assert _world.serve(ws, traffic) == 0
    kinds = [d.kind for d in Controller(ws).tick(_world.MODEL).decisions]
    assert kinds[-1] == "rollout", kinds  # the retrain is in canary
    yield ws
    ws.close()


def sign_in(ws: Workspace, client: TestClient, role: str) -> str:
    """Sign `client` in with a new token of `role` (as its form does); the CSRF token its
    pages now carry."""
    _, secret = ws.tokens.create(role, name=f"{role}-person", actor="admin")
    csrf = csrf_of(client.get("/signin").text)
    answer = client.post("/signin", data={"token": secret, "csrf": csrf}, follow_redirects=False)
    assert answer.status_code == 303, answer.text
    return csrf_of(client.get("/models").text)


def csrf_of(page: str) -> str:
    found = re.search(r'name="csrf" value="([0-9a-f]+)"', page)
    assert found, "no form on the page"
    return found.group(1)
