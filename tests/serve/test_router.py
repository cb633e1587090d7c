"""The router: a caller sticks to one arm on every request and replica, arms get their
shares, and a canary's growing share only ever moves callers onto the candidate."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from prodml.serve.policy import Arm, Policy
from prodml.serve.router import Router, position

KEYS = [f"customer-{i}" for i in range(20_000)]


def test_a_caller_gets_the_same_arm_on_every_replica_and_every_run():
    policy = Policy.canary("churn", stable="3", candidate="4", steps=(0.25, 1.0))
    one, other = Router("churn-api", policy), Router("churn-api", policy)
    assert [one.route(k).name for k in KEYS[:500]] == [other.route(k).name for k in KEYS[:500]]
    # Not Python's hash (salted per process) but one fixed for good: replicas of any
    # version, started at any time, place a caller at the same point.
    assert position("churn-api", "customer-1") == pytest.approx(0.544836993026173, abs=1e-15)


@pytest.mark.parametrize("weights", [(0.05, 0.95), (0.5, 0.5), (0.2, 0.3, 0.5)])
def test_each_arm_gets_its_share_of_callers(weights):
    arms = tuple(Arm(name=f"arm{i}", version=str(i), weight=w) for i, w in enumerate(weights))
    router = Router("d", Policy(kind="ab", model="m", arms=arms, metric="roc_auc"))
    counts = {a.name: 0 for a in arms}
    for key in KEYS:
        counts[router.route(key).name] += 1
    for arm in arms:  # within 4 binomial standard deviations
        sd = np.sqrt(len(KEYS) * arm.weight * (1 - arm.weight))
        assert abs(counts[arm.name] - len(KEYS) * arm.weight) < 4 * sd


@settings(max_examples=50, deadline=None)
@given(
    st.lists(st.floats(0.01, 1.0), min_size=2, max_size=5, unique=True).map(sorted),
    st.text(min_size=1, max_size=20),
)
def test_a_canary_step_only_moves_callers_onto_the_candidate(steps, key):
    policy = Policy.canary("m", stable="1", candidate="2", steps=tuple(steps))
    arms = [Router("d", policy.at_step(i)).route(key).name for i in range(len(steps))]
    first = arms.index("candidate") if "candidate" in arms else len(arms)
    assert arms == ["stable"] * first + ["candidate"] * (len(arms) - first)


def test_deployments_assign_callers_independently():
    """Two experiments on the same callers must not put the same callers in the same arm."""
    a = np.array([position("exp-a", k) < 0.5 for k in KEYS])
    b = np.array([position("exp-b", k) < 0.5 for k in KEYS])
    assert abs(np.corrcoef(a, b)[0, 1]) < 0.03


def test_a_shadow_answers_no_one_and_the_key_falls_back_to_the_request_id():
    policy = Policy.shadow("m", stable="1", candidate="2", key="customer_id")
    router = Router("d", policy)
    assert {router.route(k).name for k in KEYS[:1000]} == {"stable"}
    assert [a.name for a in policy.shadows] == ["candidate"]
    assert router.key_of({"customer_id": 42}, "req-1") == "42"
    assert router.key_of({"customer_id": None}, "req-1") == "req-1"
