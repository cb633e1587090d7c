"""The controller on a model whose concept changes: it retrains when its policy says,
judges the result on the newest traffic, rolls it out, and records every decision."""

from datetime import timedelta

import pytest

from prodml.automate import Controller
from prodml.automate.recipe import RETRAINED
from prodml.train.tabular import RECIPE_TAG
from tests.automate import _world
from tests.automate._world import DEPLOYMENT, MODEL

# Retrain after 500 newly labelled rows; no monitoring pass (the alerts are not needed).
POLICY = {
    "monitor": False,
    "policy": {
        "triggers": {"new_labels": 500, "new_labels_share": None, "alerts": []},
        "guards": {"min_new_labels": 500, "cooldown_days": 7},
        "holdout_days": 20,
    },
}


@pytest.fixture
def world(workspace):
    workspace.settings = workspace.settings.model_copy(
        update={"automate": type(workspace.settings.automate).model_validate(POLICY)}
    )
    _world.champion(workspace)
    return workspace


def test_with_nothing_new_a_tick_records_why_it_did_not_retrain(world):
    tick = Controller(world).tick(MODEL)
    kinds = [d.kind for d in tick.decisions]
    assert kinds == ["policy", "evaluated"]
    assert "no trigger" in tick.decisions[-1].reason
    assert "0 new labelled rows" in tick.decisions[-1].reason
    audited = [e.action for e in world.audit.events()]
    assert audited[-2:] == ["ct.policy", "ct.evaluated"]
    again = Controller(world).tick(MODEL)
    assert [d.kind for d in again.decisions] == ["evaluated"]  # the policy is unchanged


def test_new_labels_retrain_the_model_and_its_canary_starts(world):
    traffic = _world.rows(1500, _world.START + timedelta(days=95), shifted=True, seed=1)
    assert _world.serve(world, traffic) == 0
    tick = Controller(world).tick(MODEL)
    kinds = [d.kind for d in tick.decisions]
    assert kinds == ["policy", "retraining", "retrained", "rollout"], [d.reason for d in tick.decisions]
    retraining, retrained, rollout = tick.decisions[1:]
    assert "new labelled rows" in retraining.reason
    batch = retraining.figures["batch"]
    assert 1400 <= batch["rows"] <= 1500  # the outcomes that came back by now
    # The batch is a snapshot whose parent is the data the champion was trained on.
    (name, snapshot_id), = retraining.figures["batches"].items()
    snapshot = world.metadata.get_snapshot(snapshot_id)
    base = world.registry.resolve(f"{MODEL}/1").tags["prodml.snapshot.toy"]
    assert snapshot.parents == [base]
    assert snapshot.num_rows == batch["rows"]
    # Judged against the champion on the newest twenty days, which it never trained on.
    assert retrained.figures["gate"]["passed"], retrained.reason
    version = world.registry.resolve(f"{MODEL}/{retrained.version}")
    assert version.tags[RECIPE_TAG] == RETRAINED
    assert version.tags[f"prodml.snapshot.{name}"] == snapshot_id
    # The canary is under way behind the deployment, started by the controller.
    _, policy = world.rollouts.status(DEPLOYMENT)
    assert policy.kind == "canary"
    assert policy.arm("candidate").version == retrained.version
    assert world.metadata.deployment(DEPLOYMENT).actor == "controller"
    # While it runs, even a person's request is held back.
    Controller(world).request(MODEL, "new fleet data")
    held = Controller(world).tick(MODEL).decisions[-1]
    assert held.kind == "skipped"
    assert f"rollout of deployment {DEPLOYMENT!r} is in progress" in held.reason
