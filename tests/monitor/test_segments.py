"""Drift per segment: a shift confined to one airport is seen there, not averaged away."""

import numpy as np
import pandas as pd

from prodml.monitor import Reference, compare
from prodml.monitor.segments import segment_drift


def _rows(rng, n: int, jfk_shift: float = 0.0) -> pd.DataFrame:
    origin = rng.choice(["EWR", "JFK", "LGA"], n)
    temp = rng.normal(size=n) + np.where(origin == "JFK", jfk_shift, 0.0)
    return pd.DataFrame({"origin": origin, "temp": temp, "hour": rng.integers(5, 23, n)})


def test_a_shift_in_one_segment_is_caught_in_that_segment_only(rng):
    reference = Reference.from_frame(_rows(rng, 30_000))
    window = _rows(rng, 9_000, jfk_shift=0.1)
    overall = {d.feature: d for d in compare(reference, window)}
    assert not overall["temp"].drifted  # a third of the rows moved a tenth of a std: diluted
    found = {s.name: s for s in segment_drift(reference, window, ["origin", "absent"])}
    assert set(found) == {"origin=EWR", "origin=JFK", "origin=LGA"}
    assert found["origin=JFK"].drifted == ["temp"]
    assert found["origin=EWR"].drifted == found["origin=LGA"].drifted == []
    assert all(s.rows > 2_500 and s.reference_rows > 5_000 for s in found.values())


def test_small_segments_and_numeric_segment_values_are_handled(rng):
    reference = Reference.from_frame(_rows(rng, 5_000))
    window = _rows(rng, 1_000)
    found = segment_drift(reference, window, ["hour"], min_rows=50)
    assert {s.value for s in found} <= {str(h) for h in range(5, 23)}
    assert all(s.rows >= 50 for s in found)
    assert segment_drift(reference, window, ["origin"]) == []  # under 1,000 rows each


def test_segments_are_judged_with_the_per_feature_method_and_threshold(rng):
    reference = Reference.from_frame(_rows(rng, 30_000))
    window = _rows(rng, 9_000, jfk_shift=0.25)
    strict = segment_drift(reference, window, ["origin"], thresholds={"temp": 0.5})
    assert [s.drifted for s in strict] == [[], [], []]  # JFK's shift is under 0.5 std
    by_ks = segment_drift(reference, window, ["origin"], methods={"temp": "ks"})
    jfk = next(s for s in by_ks if s.value == "JFK")
    assert [(d.feature, d.method) for d in jfk.drift if d.drifted] == [("temp", "ks")]
