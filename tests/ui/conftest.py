"""A project whose model "toy" has a gated champion trained from a snapshot (version 1) and
a version registered from a notebook with no gate (version 2), and the console over it."""

import numpy as np
import pytest
from starlette.testclient import TestClient

from prodml.train import fit_model
from prodml.ui import create_ui
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
