"""Model flavors: one module per kind of estimator behind one `Flavor` interface.

`get_flavor(name)` imports a flavor's module on first use (nothing registers itself on
import). Which abilities a flavor has beyond the interface (tuning, explanations, a fast
one-row path) is asked with `isinstance` against the protocols in `base`.
"""

from __future__ import annotations

import importlib
from functools import cache

from prodml.train.flavors.base import (
    CLASSIFICATION,
    REGRESSION,
    TASKS,
    Explains,
    Flavor,
    Prunable,
    RowScorer,
    ScoresOneRow,
    Tunable,
)

# name -> "module:class", under prodml.train.flavors
_FLAVORS = {
    "lightgbm": "lightgbm:LightGBM",
    "majority": "sklearn:Majority",
    "logistic": "sklearn:Logistic",
    "mean": "sklearn:Mean",
    "ridge": "sklearn:Ridge",
    "sklearn": "sklearn:AnyEstimator",
}
BASELINES = {CLASSIFICATION: ("majority", "logistic"), REGRESSION: ("mean", "ridge")}
NAMES = tuple(_FLAVORS)


@cache
def get_flavor(name: str) -> Flavor:
    """The flavor called `name`; a clear error listing the known ones otherwise."""
    try:
        module, _, cls = _FLAVORS[name].partition(":")
    except KeyError:
        raise ValueError(
            f"flavor must be one of {', '.join(NAMES)}. Got {name!r} instead."
        ) from None
    flavor: Flavor = getattr(importlib.import_module(f"{__name__}.{module}"), cls)()
    return flavor


def flavors_for(task: str) -> tuple[str, ...]:
    """The flavors that can fit a model for `task` (classification or regression)."""
    return tuple(n for n in NAMES if task in get_flavor(n).tasks)


__all__ = [
    "BASELINES",
    "CLASSIFICATION",
    "NAMES",
    "REGRESSION",
    "TASKS",
    "Explains",
    "Flavor",
    "Prunable",
    "RowScorer",
    "ScoresOneRow",
    "Tunable",
    "flavors_for",
    "get_flavor",
]
