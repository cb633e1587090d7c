"""Traffic policies: valid ones round-trip through the store's plain dict; invalid ones are
refused with a message that says what is wrong."""

import pytest
from pydantic import ValidationError

from prodml.serve.policy import Arm, Policy


def test_a_canary_moves_through_its_steps_and_round_trips_as_a_dict():
    policy = Policy.canary("churn", stable="3", candidate="4", steps=(0.05, 0.5, 1.0))
    assert policy.arm("candidate").weight == 0.05
    later = policy.at_step(1)
    assert (later.step, later.arm("candidate").weight, later.arm("stable").weight) == (1, 0.5, 0.5)
    assert Policy.model_validate(later.model_dump()) == later
    with pytest.raises(ValueError, match="Step 3 is outside this canary's 3 steps"):
        policy.at_step(3)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        (
            {"kind": "ab", "arms": [("a", "1", 0.5), ("b", "2", 0.4)], "metric": "roc_auc"},
            "weights must add up to 1; they add up to 0.9",
        ),
        ({"kind": "ab", "arms": [("a", "1", 0.5), ("b", "2", 0.5)]}, "a `metric` to judge"),
        ({"kind": "single", "arms": [("a", "1", 0.5), ("b", "2", 0.5)]}, "single policy has one"),
        ({"kind": "canary", "arms": [("a", "1", 1.0)]}, "has the arms 'candidate' and 'stable'"),
        (
            {
                "kind": "canary",
                "arms": [("candidate", "2", 0.5), ("stable", "1", 0.5)],
                "steps": (0.5, 0.25),
            },
            "canary steps must rise within",
        ),
        (
            {
                "kind": "canary",
                "arms": [("candidate", "2", 0.3), ("stable", "1", 0.7)],
                "steps": (0.25, 1.0),
            },
            "candidate's weight 0.3 is not its step's share 0.25",
        ),
        ({"kind": "ab", "arms": [("a", "1", 0.5), ("a", "2", 0.5)], "metric": "x"}, "must differ"),
    ],
)
def test_an_inconsistent_policy_is_refused_saying_why(fields, message):
    arms = tuple(Arm(name=n, version=v, weight=w) for n, v, w in fields.pop("arms"))
    with pytest.raises(ValidationError, match=message):
        Policy(model="m", arms=arms, **fields)


def test_an_unknown_arm_is_named_with_the_ones_there_are():
    with pytest.raises(KeyError, match="has no arm 'blue'; its arms are stable"):
        Policy.single("m", "1").arm("blue")
