"""Concept drift on the error stream: when the mean of per-prediction errors rose, and
where the rise began.

`cusum` is the detector when the reference knows what the errors should be (their mean
and spread on held-out rows at registration): a one-sided CUSUM of the standardized
errors against that fixed mean, so what it finds does not depend on how much clean history
came first. Its threshold follows from the false-alarm rate asked for (Siegmund's
approximation of the average run length) and `expected_delay` states how soon it
catches a given rise. The start reported is where the sum last stood at zero.

`page_hinkley` is for streams with no such reference: it accumulates each error's excess
over the stream's own running mean (less a tolerance `delta`) and alarms once the sum
climbs `threshold` above its lowest point, where the rise began. Only rises are detected
(errors going up is what costs).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np


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


def cusum(
    errors: Iterable[float],
    *,
    mean: float,
    std: float,
    shift: float = 0.1,
    false_alarm_rows: float = 1_000_000,
    min_samples: int = 30,
) -> ConceptDrift | None:
    """The first rise of the errors' mean above `mean`, or None.

    `shift` is the smallest rise worth catching, in units of `std` (the errors' spread
    on held-out rows); `false_alarm_rows` is how many rows with no change should pass, on
    average, between false alarms. No alarm comes before `min_samples` errors."""
    if std <= 0 or shift <= 0 or false_alarm_rows <= 1 or min_samples < 1:
        raise ValueError(
            "cusum needs std > 0, shift > 0, false_alarm_rows > 1 and min_samples >= 1. Got "
            f"std={std}, shift={shift}, false_alarm_rows={false_alarm_rows}, "
            f"min_samples={min_samples}."
        )
    k = shift / 2
    h = cusum_threshold(k, false_alarm_rows)
    z = (np.asarray(list(errors), dtype=float) - mean) / std
    total, start = 0.0, 0
    for i, value in enumerate(z.tolist()):
        total = max(0.0, total + value - k)
        if total == 0.0:
            start = i + 1
        elif i + 1 >= min_samples and total > h:
            return ConceptDrift(detected_at=i, started_at=start)
    return None


def _run_length(drift: float, k: float, h: float) -> float:
    """Siegmund's average run length of a CUSUM with reference `k` and threshold `h`
    when the standardized errors' mean is `drift`."""
    b, d = h + 1.166, drift - k
    if abs(d) < 1e-12:
        return b * b
    return (math.exp(-2 * d * b) + 2 * d * b - 1) / (2 * d * d)


def cusum_threshold(k: float, false_alarm_rows: float) -> float:
    """The threshold at which a CUSUM with reference `k` runs `false_alarm_rows` rows, on
    average, before a false alarm."""
    low, high = 0.0, 1.0
    while _run_length(0.0, k, high) < false_alarm_rows:
        high *= 2
    for _ in range(60):
        mid = (low + high) / 2
        low, high = (mid, high) if _run_length(0.0, k, mid) < false_alarm_rows else (low, mid)
    return high


def expected_delay(
    rise: float, *, shift: float = 0.1, false_alarm_rows: float = 1_000_000
) -> float:
    """Rows, on average, from a rise of `rise` standard deviations to the alarm."""
    k = shift / 2
    return _run_length(rise, k, cusum_threshold(k, false_alarm_rows))
