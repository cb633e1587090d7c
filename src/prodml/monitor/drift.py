"""Per-feature data drift of a window of traffic against the training profile.

The statistic is the population stability index (`prodml.data.profile.column_psi`); the
data layer uses the same one to compare an incoming batch with its contract's reference.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from prodml.data.profile import column_psi

DRIFT_THRESHOLD = 0.25


def feature_drift(
    reference: Mapping[str, Any], current: pd.DataFrame, features: Sequence[str]
) -> dict[str, float]:
    """PSI of each of `features` in `current` against the reference profile."""
    columns = reference["columns"]
    unknown = [f for f in features if f not in columns]
    if unknown:
        raise ValueError(
            f"The reference profile has no column(s) {unknown}; it covers {sorted(columns)}."
        )
    return {name: column_psi(columns[name], current[name]) for name in features}
