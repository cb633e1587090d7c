"""Concept drift on the error stream: the Page–Hinkley test, which says when the mean of a
stream of per-prediction errors (0/1 misses, log losses, absolute errors) rose, and where
the rise began.

The test accumulates each error's excess over the running mean (less a tolerance `delta`)
and alarms once the sum climbs `threshold` above its lowest point. That lowest point is
where the rise began: the reported start. Only rises are detected (errors going up is what
costs); run it on negated values for falls.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class ConceptDrift:
    detected_at: int  # index of the error that raised the alarm
    started_at: int  # index just after the sum's lowest point: where the rise began


def page_hinkley(
    errors: Iterable[float],
    *,
    delta: float = 0.05,
    threshold: float = 25.0,
    min_samples: int = 30,
) -> ConceptDrift | None:
    """The first rise of the errors' mean, or None.

    `delta` is half the smallest rise worth an alarm, in the errors' units (the default
    suits 0/1 misses: a rise of 0.1 in the miss rate). `threshold` is how much evidence
    raises the alarm: higher means fewer false alarms and later detection (about
    threshold / (rise - delta) errors after the change). No alarm comes before
    `min_samples` errors."""
    if delta < 0 or threshold <= 0 or min_samples < 1:
        raise ValueError(
            "page_hinkley needs delta >= 0, threshold > 0 and min_samples >= 1. Got "
            f"delta={delta}, threshold={threshold}, min_samples={min_samples}."
        )
    mean = total = lowest = 0.0
    lowest_at = 0
    for i, error in enumerate(errors):
        mean += (error - mean) / (i + 1)
        total += error - mean - delta
        if total < lowest:
            lowest, lowest_at = total, i + 1
        if i + 1 >= min_samples and total - lowest > threshold:
            return ConceptDrift(detected_at=i, started_at=lowest_at)
    return None
