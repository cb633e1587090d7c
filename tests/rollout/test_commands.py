"""A person's rollout commands: each policy change recorded with who and why, the registry
moved on promotion, and a command on the wrong state refused with what to do instead."""

import numpy as np
import pytest
from pydantic import ValidationError

from prodml.errors import ConfigError, NotFoundError, StateError
from prodml.rollout import Rollouts
from prodml.train import fit_model
from tests._data import TOY_SPEC, log_model_run, toy_frame


@pytest.fixture
def rollouts(workspace):
    rng = np.random.default_rng(0)
    for _ in range(3):  # versions 1, 2 and 3 of "toy"
        model = fit_model("logistic", toy_frame(rng, 300), "y", TOY_SPEC)
        workspace.registry.register("toy", log_model_run(workspace, model))
    workspace.registry.set_alias("toy", "champion", "1")
    return Rollouts(workspace.metadata, workspace.registry, workspace.clock)


def test_a_canary_is_created_started_and_promoted_with_every_step_recorded(rollouts, workspace):
    rollouts.create("toy-api", "toy@champion", actor="ana")
    rollouts.canary("toy-api", "2", actor="ana", steps=(0.1, 0.5, 1.0))
    _, policy = rollouts.status("toy-api")
    assert (policy.kind, policy.arm("candidate").version, policy.arm("candidate").weight) == (
        "canary",
        "2",
        0.1,
    )
    rollouts.promote("toy-api", actor="ana", reason="looks good")
    change, policy = rollouts.status("toy-api")
    assert (policy.kind, policy.arm("stable").version) == ("single", "2")
    assert (change.revision, change.actor, change.reason) == (3, "ana", "looks good")
    assert workspace.registry.resolve("toy@champion").version == "2"
    history = workspace.metadata.deployment_history("toy-api")
    assert [c.action for c in history] == ["create", "canary", "promote"]
    assert history[1].reason == "canary of version 2 at 10%"


def test_a_rollback_returns_to_the_stable_version_and_keeps_the_champion(rollouts, workspace):
    rollouts.create("toy-api", "toy@champion", actor="ana")
    rollouts.shadow("toy-api", "3", actor="ana")
    rollouts.rollback("toy-api", actor="analysis", reason="scores drifted from stable's")
    change, policy = rollouts.status("toy-api")
    assert (policy.kind, policy.arm("stable").version) == ("single", "1")
    assert (change.actor, change.action) == ("analysis", "rollback")
    assert workspace.registry.resolve("toy@champion").version == "1"


def test_an_ab_test_names_its_arms_and_needs_weights_that_add_up(rollouts):
    rollouts.create("toy-api", "toy@champion", actor="ana")
    rollouts.ab("toy-api", {"1": 0.5, "2": 0.5}, metric="roc_auc", actor="ana")
    _, policy = rollouts.status("toy-api")
    assert [(a.name, a.version, a.weight) for a in policy.arms] == [
        ("stable", "1", 0.5),
        ("v2", "2", 0.5),
    ]
    rollouts.rollback("toy-api", actor="ana")
    with pytest.raises(ValidationError, match="weights must add up to 1"):
        rollouts.ab("toy-api", {"1": 0.5, "2": 0.4}, metric="roc_auc", actor="ana")


def test_commands_on_the_wrong_state_are_refused_saying_what_to_do(rollouts):
    with pytest.raises(NotFoundError, match=r"No deployment named .toy-api.*deploy create toy-api"):
        rollouts.status("toy-api")
    rollouts.create("toy-api", "toy@champion", actor="ana")
    with pytest.raises(StateError, match="exists already"):
        rollouts.create("toy-api", "toy/2", actor="ana")
    with pytest.raises(ConfigError, match="Version 1 is the one serving already"):
        rollouts.canary("toy-api", "1", actor="ana")
    with pytest.raises(ConfigError, match="'other/2' is not a version of 'toy'"):
        rollouts.canary("toy-api", "other/2", actor="ana")
    with pytest.raises(StateError, match="serves one version already; nothing to roll back"):
        rollouts.rollback("toy-api", actor="ana")
    with pytest.raises(StateError, match="no candidate to promote"):
        rollouts.promote("toy-api", actor="ana")
    rollouts.canary("toy-api", "2", actor="ana")
    with pytest.raises(StateError, match="is in a canary already; promote or roll it back"):
        rollouts.shadow("toy-api", "3", actor="ana")
