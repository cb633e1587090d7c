"""The controller on a model whose concept changes: it retrains when its policy says,
judges the result on the newest traffic, rolls it out, and records every decision."""

from datetime import timedelta

import numpy as np
import pytest

from prodml.automate import Controller
from prodml.automate.recipe import RETRAINED
from prodml.train.tabular import RECIPE_TAG
from tests.automate import _world
from tests.automate._world import DEPLOYMENT, MODEL, POLICY


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
    assert kinds == ["policy", "retraining", "retrained", "rollout"], [
        d.reason for d in tick.decisions
    ]
    retraining, retrained, _rollout = tick.decisions[1:]
    assert "new labelled rows" in retraining.reason
    batch = retraining.figures["batch"]
    assert 1400 <= batch["rows"] <= 1500  # the outcomes that came back by now
    # The batch is a snapshot whose parent is the data the champion was trained on.
    ((name, snapshot_id),) = retraining.figures["batches"].items()
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


def _with_policy(ws, **policy):
    automate = ws.settings.automate
    merged = automate.model_copy(update={"policy": automate.policy.model_copy(update=policy)})
    ws.settings = ws.settings.model_copy(update={"automate": merged})


def test_the_canary_it_started_is_advanced_by_later_ticks_to_promotion(world):
    from prodml.settings import RolloutSettings

    _with_policy(world, steps=[0.5, 1.0])
    world.analysis.settings = RolloutSettings(min_rows=100, min_step_rows=100, min_step_seconds=60)
    start = _world.START + timedelta(days=95)
    _world.serve(world, _world.rows(1500, start, shifted=True, seed=1))
    Controller(world).tick(MODEL)
    later = start + timedelta(hours=1500)
    seen = []
    for chunk in range(4):
        begin = later + timedelta(hours=300 * chunk)
        assert _world.serve(world, _world.rows(300, begin, shifted=True, seed=2 + chunk)) == 0
        seen += [d.kind for d in Controller(world).tick(MODEL).decisions]
        if "promote" in seen:
            break
    decided = world.metadata.list_decisions(MODEL)
    said = "\n".join(f"{d.kind}: {d.reason}" for d in decided)
    assert "promote" in seen, said
    assert "rollback" not in seen, said
    assert "advance" in seen
    assert world.registry.resolve(f"{MODEL}@champion").version == "2"
    history = [c.action for c in world.metadata.deployment_history(DEPLOYMENT)]
    assert history[:4] == ["create", "canary", "advance", "promote"]


def test_a_controller_killed_mid_retrain_is_resumed_by_the_next_tick(world, monkeypatch):
    """Killed after registering, before the drift reference: the next tick finishes the
    same version (found again by its step key), and only then rolls it out."""
    from prodml.workspace import Workspace

    _world.serve(world, _world.rows(1500, _world.START + timedelta(days=95), shifted=True))
    real = Workspace.save_reference

    def killed(self, *args, **kwargs):
        monkeypatch.setattr(Workspace, "save_reference", real)
        raise KeyboardInterrupt

    monkeypatch.setattr(Workspace, "save_reference", killed)
    with pytest.raises(KeyboardInterrupt):
        Controller(world).tick(MODEL)
    assert [d.kind for d in world.metadata.list_decisions(MODEL)][-1] == "retraining"
    assert world.rollouts.status(DEPLOYMENT)[1].kind == "single"  # nothing went out
    tick = Controller(world).tick(MODEL)
    kinds = [d.kind for d in tick.decisions]
    assert kinds == ["retrained", "rollout"]
    assert "resumed" in tick.decisions[0].reason
    assert tick.decisions[0].version == "2"
    assert world.reference(MODEL, "2").rows > 0
    assert len([v for v in world.registry.list_versions() if v.name == MODEL]) == 2


def test_promote_straight_moves_the_champion_with_no_canary(world):
    _with_policy(world, rollout="promote")
    _world.serve(world, _world.rows(1500, _world.START + timedelta(days=95), shifted=True))
    tick = Controller(world).tick(MODEL)
    assert tick.decisions[-1].kind == "promote"
    assert "policy says promote" in tick.decisions[-1].reason
    assert world.registry.resolve(f"{MODEL}@champion").version == "2"


def test_a_changed_policy_is_recorded_and_audited_with_both_versions(world):
    first = Controller(world).tick(MODEL).decisions[0]
    _with_policy(world, holdout_days=30)
    changed = Controller(world).tick(MODEL).decisions[0]
    assert changed.kind == "policy"
    assert changed.figures["previous"] == first.figures["version"]
    assert changed.figures["version"] != first.figures["version"]
    assert changed.figures["policy"]["holdout_days"] == 30
    event = [e for e in world.audit.events() if e.action == "ct.policy"][-1]
    assert f"changed from {first.figures['version']}" in event.reason


def test_another_controller_holding_the_model_leaves_it_alone(world):
    with world.metadata.exclusive(f"continuous-training:{MODEL}") as held:
        assert held
        tick = Controller(world).tick(MODEL)
    assert tick.locked
    assert not tick.decisions
    assert not Controller(world).tick(MODEL).locked


def test_the_agent_ticks_each_model_until_stopped(world):
    from prodml.automate import run_agent

    ticks, waits = [], []
    run_agent(
        world,
        [MODEL, "nobody"],  # a model that fails is logged, the others go on
        every=60,
        stop=lambda: len(waits) >= 2,
        wait=waits.append,
        on_tick=ticks.append,
    )
    assert waits == [60, 60]
    assert [t.model for t in ticks] == [MODEL, MODEL]
    assert [d.kind for t in ticks for d in t.decisions] == ["policy", "evaluated", "evaluated"]


def test_a_batch_whose_feature_went_missing_is_not_trained_on(world):
    traffic = _world.rows(1500, _world.START + timedelta(days=95), seed=2)
    traffic["size"] = float("nan")  # the pipeline feeding `size` broke: served as null
    assert _world.serve(world, traffic) == 0
    tick = Controller(world).tick(MODEL)
    assert [d.kind for d in tick.decisions] == ["policy", "skipped"]
    skipped = tick.decisions[-1]
    assert "size is missing in 100% of them against 0% in training" in skipped.reason
    assert "feature pipeline looks broken" in skipped.reason
    assert world.registry.resolve(f"{MODEL}@champion").version == "1"
    assert [v.version for v in world.registry.list_versions()] == ["1"]  # nothing trained


def test_a_month_of_corrupted_labels_never_goes_live(world):
    traffic = _world.rows(1500, _world.START + timedelta(days=95), seed=3)
    flipped = np.random.default_rng(4).random(len(traffic)) < 0.4
    traffic["y"] = np.where(flipped, 1 - traffic["y"], traffic["y"])  # a label feed mixing up
    assert _world.serve(world, traffic) == 0
    tick = Controller(world).tick(MODEL)
    kinds = [d.kind for d in tick.decisions]
    assert kinds == ["policy", "retraining", "retrained"], [d.reason for d in tick.decisions]
    retrained = tick.decisions[-1]
    # On 40 % flipped outcomes the retrain cannot show it is not worse than the champion
    # (the gate); had it shown that, min_signal would hold it (the next test).
    assert "gate failed" in retrained.reason or "look corrupted" in retrained.reason
    assert world.rollouts.status(DEPLOYMENT)[1].kind == "single"  # no canary began
    assert world.registry.resolve(f"{MODEL}@champion").version == "1"


def test_a_retrain_that_recovers_too_little_of_the_champions_signal_is_held(world):
    strict = world.settings.automate.model_copy(deep=True)
    strict.policy.guards.min_signal = 0.99  # demand the champion's whole lift over chance
    world.settings = world.settings.model_copy(update={"automate": strict})
    traffic = _world.rows(1500, _world.START + timedelta(days=95), shifted=True, seed=1)
    assert _world.serve(world, traffic) == 0
    tick = Controller(world).tick(MODEL)
    assert [d.kind for d in tick.decisions] == ["policy", "retraining", "retrained"]
    retrained = tick.decisions[-1]
    assert "gate passed" in retrained.reason
    assert "not released" in retrained.reason
    assert "look corrupted" in retrained.figures["held"]
    assert world.rollouts.status(DEPLOYMENT)[1].kind == "single"


def test_a_retrain_better_overall_but_unfair_to_a_group_never_goes_live(world):
    # Tracked: color's groups. The toy's own odds gap (about 0.12) is let through, so only
    # what the new data does to one group can block.
    fairness = world.settings.governance.fairness.model_copy(update={"max_odds_difference": 0.25})
    world.settings = world.settings.model_copy(
        update={
            "monitoring": world.settings.monitoring.model_copy(update={"sensitive": ["color"]}),
            "governance": world.settings.governance.model_copy(update={"fairness": fairness}),
        }
    )
    traffic = _world.rows(1500, _world.START + timedelta(days=95), seed=5)
    traffic.loc[traffic["color"] == "blue", "size"] = 0.0  # one region's feed sends zeros
    assert _world.serve(world, traffic) == 0
    tick = Controller(world).tick(MODEL)
    assert [d.kind for d in tick.decisions] == ["policy", "retraining", "retrained"]
    gate = tick.decisions[-1].figures["gate"]
    # Better than the champion on the newest traffic, and still stopped: blue's flights
    # are never selected.
    champion = next(c for c in gate["comparisons"] if c["role"] == "champion")
    assert champion["passed"]
    assert champion["improvement"] > 0
    assert gate["fairness_passed"] is False
    assert "group blue is selected at 0.00× the rate" in tick.decisions[-1].reason
    assert world.rollouts.status(DEPLOYMENT)[1].kind == "single"
    assert world.registry.resolve(f"{MODEL}@champion").version == "1"


def test_a_retrain_no_better_than_the_champion_is_not_rolled_out(world):
    # The world has not changed: the retrain learns what the champion knows.
    traffic = _world.rows(1500, _world.START + timedelta(days=95), seed=6)
    assert _world.serve(world, traffic) == 0
    tick = Controller(world).tick(MODEL)
    assert [d.kind for d in tick.decisions] == ["policy", "retraining", "retrained"]
    gate = tick.decisions[-1].figures["gate"]
    champion = next(c for c in gate["comparisons"] if c["role"] == "champion")
    assert champion["required_above"] == 0.0  # automate.policy.min_gain
    assert not champion["passed"]
    assert "is not better than champion toy/1" in tick.decisions[-1].reason
    assert world.rollouts.status(DEPLOYMENT)[1].kind == "single"
