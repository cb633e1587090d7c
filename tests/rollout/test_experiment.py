"""A/B verdicts: an A/A test names a winner no more often than α however often it is
read; a real difference is found and its direction named; too little data says how much
more is needed."""

import numpy as np
import pandas as pd
import pytest

from prodml.monitor.labels import LABEL
from prodml.rollout.experiment import verdict
from tests.rollout._traffic import in_process

ALPHA = 0.05


def _arm(rng, n, signal=1.0):
    truth = rng.random(n) < 0.3
    score = 1 / (1 + np.exp(-(signal * (truth - 0.3) * 2 + rng.normal(size=n))))
    return pd.DataFrame({"prediction": score, LABEL: truth.astype(float)})


@pytest.mark.parametrize("metric", ["roc_auc", "log_loss"])
def test_an_a_a_test_read_at_every_look_names_a_winner_at_most_alpha_of_the_time(metric):
    rng = np.random.default_rng(0)
    runs, winners = 200, 0
    for _ in range(runs):
        a, b = _arm(rng, 4000), _arm(rng, 4000)
        looks = (
            verdict("b", b[:n], a[:n], metric=metric, alpha=ALPHA, min_effect=0.01)
            for n in range(400, 4001, 400)
        )
        winners += any(v.winner is not None for v in looks)
    assert winners / runs <= ALPHA


def test_a_better_arm_wins_and_a_worse_one_loses():
    rng = np.random.default_rng(1)
    weak, strong = _arm(rng, 6000, signal=0.7), _arm(rng, 6000, signal=1.0)
    better = verdict("v2", strong, weak, metric="roc_auc", alpha=ALPHA, min_effect=0.01)
    assert better.winner == "v2"
    assert better.low > 0
    assert "v2 wins on roc_auc" in better.sentence("stable")
    worse = verdict("v2", weak, strong, metric="log_loss", alpha=ALPHA, min_effect=0.01)
    assert worse.winner == "primary"


def test_too_few_rows_say_how_many_more_would_settle_it():
    rng = np.random.default_rng(2)
    found = verdict(
        "v2", _arm(rng, 300), _arm(rng, 300), metric="roc_auc", alpha=ALPHA, min_effect=0.02
    )
    assert found.winner is None
    assert found.rows_needed > 1000
    assert "no winner yet; about" in found.sentence("stable")


def test_an_ab_deployment_is_held_with_its_verdict_and_an_arm_promoted_by_hand(served, workspace):
    client, deployment = served
    workspace.rollouts.ab("toy-api", {"1": 0.5, "2": 0.5}, metric="roc_auc", actor="ana")
    deployment.check()
    in_process(client, workspace)
    decision = workspace.analysis.tick("toy-api")
    assert decision.action == "hold"
    assert decision.reason.startswith("v2: no labelled rows on roc_auc yet")  # none fed back
    assert decision.change.figures["verdicts"][0]["arm"] == "v2"
    workspace.rollouts.promote("toy-api", actor="ana", arm="v2", reason="v2 won")
    assert workspace.registry.resolve("toy@champion").version == "2"
