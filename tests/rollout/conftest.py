"""The rollout tests' shared fixture: a deployment served in-process."""

import numpy as np
import pytest
from fastapi.testclient import TestClient

from prodml.rollout.gauges import RolloutCollector
from prodml.serve import create_app
from prodml.settings import RolloutSettings
from prodml.train import fit_model
from tests._data import TOY_SPEC, log_model_run, toy_frame

SETTINGS = RolloutSettings(min_rows=100, min_step_rows=100, min_step_seconds=60)


@pytest.fixture
def served(workspace):
    """Versions 1 and 2 of "toy", deployment "toy-api" serving 1, and a client of a server
    following it."""
    rng = np.random.default_rng(0)
    for _ in range(2):
        model = fit_model("logistic", toy_frame(rng, 600), "y", TOY_SPEC)
        workspace.registry.register("toy", log_model_run(workspace, model))
    workspace.rollouts.create("toy-api", "toy/1", actor="ana")
    deployment = workspace.follow_deployment("toy-api")
    log = workspace.prediction_log("toy")
    app = create_app(
        deployment,
        log,
        workspace.clock,
        labels=workspace.metadata,
        collectors=[RolloutCollector(workspace.metadata, "toy-api")],
    )
    client = TestClient(app)
    workspace.analysis.settings = SETTINGS
    yield client, deployment
    log.close()
