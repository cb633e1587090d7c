"""Which triggers fire and which guards hold, on states made by hand."""

from datetime import UTC, datetime, timedelta

from prodml.automate import State, evaluate, policy_version
from prodml.settings import AutomateSettings, PolicySettings

NOW = datetime(2013, 9, 1, tzinfo=UTC)


def state(**changes) -> State:
    base = {
        "now": NOW,
        "last_trained": NOW - timedelta(days=90),
        "retrains_in_period": 1,
        "new_labels": 5_000,
        "training_rows": 100_000,
    }
    return State(**{**base, **changes})


def test_nothing_changed_enough_is_no_trigger():
    evaluation = evaluate(PolicySettings(), state())
    assert not evaluation.retrain
    assert evaluation.sentence() == "no trigger: nothing changed enough"


def test_each_trigger_fires_on_its_own_and_says_why():
    policy = PolicySettings.model_validate(
        {"triggers": {"new_labels": 4_000, "schedule_days": 28, "alerts": ["concept-drift"]}}
    )
    fired = evaluate(policy, state(firing=("concept-drift", "feature-drift"))).triggers
    assert fired[0] == "alert firing: concept-drift"  # only the alerts the policy names
    assert fired[1] == "5,000 new labelled rows (≥ 4,000)"
    assert fired[2].startswith("schedule: 90.0 days since the last retrain")
    share = evaluate(PolicySettings(), state(new_labels=60_000)).triggers
    assert share == ["60,000 new labelled rows, 60% of the 100,000 trained on (≥ 50%)"]


def test_guards_hold_a_triggered_retrain_and_a_request_passes_some():
    policy = PolicySettings()
    cooling = state(new_labels=60_000, last_trained=NOW - timedelta(days=2))
    evaluation = evaluate(policy, cooling)
    assert not evaluation.retrain
    assert evaluation.guards == ["cooling down: 2.0 days since the last retrain (cooldown_days 60)"]
    spent = evaluate(policy, state(new_labels=60_000, retrains_in_period=4))
    assert spent.guards == ["4 retrains in the last 90 days (max_retrains 4)"]
    asked = state(requested="new fleet", last_trained=NOW - timedelta(days=1), retrains_in_period=9)
    assert evaluate(policy, asked).retrain  # a person passes the cool-down and the budget
    busy = evaluate(policy, state(requested="new fleet", rollout="api", new_labels=10))
    assert busy.guards == [
        "a rollout of deployment 'api' is in progress",
        "10 new labelled rows, fewer than min_new_labels (1,000)",
    ]


def test_a_model_s_policy_is_the_default_with_its_departures_and_versioned():
    settings = AutomateSettings.model_validate(
        {"models": {"flights": {"guards": {"cooldown_days": 14}, "rollout": "promote"}}}
    )
    mine, default = settings.policy_for("flights"), settings.policy_for("other")
    assert (mine.guards.cooldown_days, mine.guards.max_retrains, mine.rollout) == (14, 4, "promote")
    assert policy_version(default) == policy_version(PolicySettings())
    assert policy_version(mine) != policy_version(default)
