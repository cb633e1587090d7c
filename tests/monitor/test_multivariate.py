"""The domain classifier sees what per-feature tests cannot: features whose relation moved."""

import numpy as np
import pandas as pd

from prodml.monitor import Reference, compare
from prodml.monitor.multivariate import domain_classifier


def _rows(rng, n: int, correlation: float) -> pd.DataFrame:
    x1 = rng.normal(size=n)
    x2 = correlation * x1 + np.sqrt(1 - correlation**2) * rng.normal(size=n)
    return pd.DataFrame(
        {"x1": x1, "x2": x2, "noise": rng.normal(size=n), "color": rng.choice(["a", "b"], n)}
    )


def test_a_changed_relation_between_features_is_caught_with_its_drivers(rng):
    reference = Reference.from_frame(_rows(rng, 20_000, 0.9))
    window = _rows(rng, 5_000, -0.9)  # every marginal as before
    assert not any(d.drifted for d in compare(reference, window))
    found = domain_classifier(reference, window)
    assert found is not None
    assert found.drifted
    assert found.auc > 0.9
    assert {name for name, _ in found.drivers[:2]} == {"x1", "x2"}
    assert sum(share for _, share in found.drivers[:2]) > 0.8


def test_the_same_world_is_not_separable(rng):
    reference = Reference.from_frame(_rows(rng, 20_000, 0.9))
    found = domain_classifier(reference, _rows(rng, 5_000, 0.9))
    assert found is not None
    assert not found.drifted
    assert 0.45 < found.auc < 0.55


def test_too_few_rows_say_nothing(rng):
    reference = Reference.from_frame(_rows(rng, 2_000, 0.9))
    assert domain_classifier(reference, _rows(rng, 50, 0.9)) is None
