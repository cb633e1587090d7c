"""The analysis over a real server's log: a healthy canary is advanced step by step and
promoted; a failing one is rolled back with the check that fired, no caller having seen
an error; a paused one is left alone; a decision on a stale revision is refused."""

import math

import pytest

from prodml.errors import StateError
from tests.rollout._traffic import in_process


def test_a_healthy_canary_is_advanced_through_every_step_and_promoted(served, workspace):
    client, deployment = served
    workspace.rollouts.canary("toy-api", "2", actor="ana", steps=(0.25, 0.5, 1.0))
    actions = []
    for _ in range(3):
        deployment.check()  # the server picks the policy up (every poll_seconds)
        in_process(client, workspace, requests=600)
        decision = workspace.analysis.tick("toy-api")
        actions.append(decision.action)
        assert all(c.verdict != "fail" for c in decision.checks), decision.checks
    assert actions == ["advance", "advance", "promote"]
    change, policy = workspace.rollouts.status("toy-api")
    assert (policy.kind, policy.arm("stable").version) == ("single", "2")
    assert change.actor == "analysis"
    assert workspace.registry.resolve("toy@champion").version == "2"
    checks = change.figures["checks"]
    assert set(checks) == {"errors", "latency", "scores", "inputs", "estimated", "realized"}
    assert checks["errors"]["verdict"] == "pass"


def test_a_step_is_held_until_its_time_and_rows_are_in(served, workspace):
    client, deployment = served
    workspace.rollouts.canary("toy-api", "2", actor="ana", steps=(0.25, 1.0))
    deployment.check()
    in_process(client, workspace, requests=40)
    decision = workspace.analysis.tick("toy-api")
    assert decision.action == "hold"
    assert "step 1 of 2 (25%)" in decision.reason
    assert workspace.rollouts.status("toy-api")[1].step == 0


def test_a_candidate_that_scores_nan_is_rolled_back_by_the_errors_check(served, workspace):
    client, deployment = served
    workspace.rollouts.canary("toy-api", "2", actor="ana", steps=(0.5, 1.0))
    deployment.check()
    candidate = deployment.routing.predictors["candidate"]
    candidate.scores = lambda rows: [math.nan for _ in rows]  # broken after its smoke test
    in_process(client, workspace)
    decision = workspace.analysis.tick("toy-api")
    assert decision.action == "rollback"
    assert decision.reason.startswith("errors check failed:")
    _, policy = workspace.rollouts.status("toy-api")
    assert (policy.kind, policy.arm("stable").version) == ("single", "1")
    tags = workspace.registry.resolve("toy/2").tags
    assert "errors check failed" in tags["prodml.rollback"]
    deployment.check()
    assert deployment.routing.policy.kind == "single"  # the server follows the rollback


@pytest.mark.usefixtures("served")
def test_a_paused_rollout_is_not_judged_and_a_stale_decision_is_refused(workspace):
    workspace.rollouts.canary("toy-api", "2", actor="ana", steps=(0.5, 1.0))
    workspace.rollouts.pause("toy-api", actor="ops", reason="holiday traffic")
    assert workspace.analysis.tick("toy-api").action == "paused"
    workspace.rollouts.resume("toy-api", actor="ops")
    revision = workspace.rollouts.status("toy-api")[0].revision
    workspace.rollouts.rollback("toy-api", actor="ana", reason="changed my mind")
    with pytest.raises(StateError, match="decide again"):
        workspace.rollouts.advance("toy-api", actor="analysis", expected=revision)
    assert workspace.analysis.tick("toy-api").action == "idle"
