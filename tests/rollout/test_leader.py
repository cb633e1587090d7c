"""The analysis the servers run: one judge per deployment at a time, by lease."""

import logging
import time

from prodml.rollout.leader import Leader
from tests.rollout._traffic import in_process


def _leader(workspace, holder: str, interval: float = 60.0) -> Leader:
    return Leader(workspace.analysis, workspace.metadata, "toy-api", interval, holder=holder)


def test_one_process_judges_a_rollout_while_the_others_wait_their_turn(served, workspace):
    workspace.rollouts.canary("toy-api", "2", actor="ana", steps=(0.5, 1.0))
    first, second = _leader(workspace, "a"), _leader(workspace, "b")
    decision = first.step()
    assert decision is not None
    assert decision.change.figures["judged_by"] == "a"
    assert second.step() is None  # a holds the lease
    assert first.step() is not None  # renewed
    first.stop()  # gives the lease up
    assert second.step().change.figures["judged_by"] == "b"


def test_a_person_acting_meanwhile_is_not_an_error_and_is_judged_next_time(served, workspace):
    workspace.rollouts.canary("toy-api", "2", actor="ana", steps=(0.5, 1.0))
    judge = _leader(workspace, "a")
    stale = workspace.analysis.tick

    def person_first(name, by=None):
        workspace.rollouts.pause(name, actor="ana", reason="look at it")
        return stale(name, by)

    workspace.analysis.tick = person_first
    decision = judge.step()
    assert decision.action == "paused"
    workspace.analysis.tick = stale
    assert judge.step().action == "paused"


def test_in_the_background_it_moves_a_healthy_canary_on_with_no_one_watching(
    served, workspace, caplog
):
    client, deployment = served
    workspace.rollouts.canary("toy-api", "2", actor="ana", steps=(0.5, 1.0))
    workspace.analysis.settings = workspace.analysis.settings.model_copy(
        update={"min_step_seconds": 0}
    )
    deployment.check()
    in_process(client, workspace, requests=600)
    judge = _leader(workspace, "a", interval=0.1)
    with caplog.at_level(logging.WARNING, logger="prodml.rollout.leader"):
        judge.start()
        deadline = time.monotonic() + 10
        while workspace.rollouts.status("toy-api")[1].step == 0:
            assert time.monotonic() < deadline, "the rollout was not judged"
            time.sleep(0.05)
        judge.stop()
    assert workspace.rollouts.status("toy-api")[0].action == "advance"
    assert "Rollout toy-api: advance" in caplog.text
