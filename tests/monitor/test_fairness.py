"""Fairness over time: group metrics per sensitive attribute with their group sizes, and
the bias-drift signal when a live gap widens past its registration value beyond chance."""

import numpy as np
import pandas as pd

from prodml.monitor.fairness import bias_drift, group_metrics


def _decided(n, *, lowered=0.0, seed=0):
    """Decisions where group b is approved `lowered` less often than group a."""
    rng = np.random.default_rng(seed)
    group = rng.choice(["a", "b"], n)
    label = rng.binomial(1, 0.5, n)
    rate = np.where(label == 1, 0.8, 0.2) - lowered * (group == "b")
    return pd.DataFrame({"group": group, "y": label, "d": (rng.random(n) < rate).astype(float)})


def _metrics(frame):
    return group_metrics(frame, label="y", decision="d", sensitive=["group"])


def test_group_metrics_carry_the_group_sizes():
    found = _metrics(_decided(2000))["group"]
    assert sum(g["rows"] for g in found["groups"].values()) == 2000
    assert all(0 < g["positives"] < g["rows"] for g in found["groups"].values())


def test_a_gap_as_wide_as_at_registration_is_not_bias_drift():
    registered = _metrics(_decided(3000, lowered=0.05, seed=1))
    live = _metrics(_decided(3000, lowered=0.05, seed=2))
    assert bias_drift(live, registered) == {"group": 0.0}


def test_a_widened_gap_is_bias_drift():
    registered = _metrics(_decided(3000, seed=1))
    live = _metrics(_decided(3000, lowered=0.25, seed=2))
    assert bias_drift(live, registered) == {"group": 1.0}


def test_a_registration_without_group_sizes_or_attribute_is_not_judged():
    live = _metrics(_decided(3000, lowered=0.25))
    old = {"group": {**live["group"], "groups": {"a": {"selection_rate": 0.5}}}}
    assert bias_drift(live, old) == {}
    assert bias_drift(live, None) == {}
