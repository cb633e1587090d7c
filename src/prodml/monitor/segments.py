"""Drift per declared segment (`monitoring.segments`): each large enough value of a segment
column (an airport, a carrier) judged against the reference rows of the same value, so a
shift confined to one segment is not averaged away by the others."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from prodml.monitor.compare import FeatureDrift, compare
from prodml.monitor.reference import NUMERIC, Reference


@dataclass(frozen=True)
class SegmentDrift:
    column: str
    value: str
    rows: int  # window rows in the segment
    reference_rows: int  # reference sample rows in it
    drift: list[FeatureDrift]

    @property
    def name(self) -> str:
        return f"{self.column}={self.value}"

    @property
    def drifted(self) -> list[str]:
        return [d.feature for d in self.drift if d.drifted]


def segment_drift(
    reference: Reference,
    window: pd.DataFrame,
    segments: Sequence[str],
    *,
    methods: Mapping[str, str] | None = None,
    thresholds: Mapping[str, float] | None = None,
    min_rows: int = 1000,
    top: int = 10,
) -> list[SegmentDrift]:
    """The `top` largest values of each segment column with at least `min_rows` rows on
    both sides (the window's, and the reference sample's), each compared feature by
    feature with the same per-feature `methods` and `thresholds` as the whole window;
    none without a reference sample. Below about a thousand rows, the effect sizes' own
    sampling noise nears their 0.1 threshold: a smaller segment is not judged."""
    sample = reference.sample
    if sample is None:
        return []
    out = []
    for column in segments:
        if column not in window or column not in sample or column not in reference.columns:
            continue
        numeric = reference.columns[column].kind == NUMERIC
        here, there = _keys(window[column], numeric), _keys(sample[column], numeric)
        features = [c for c in sample.columns if c != column]
        counts = here.value_counts()
        for value in counts.index[:top]:
            mine, theirs = here == value, there == value
            if counts[value] < min_rows or theirs.sum() < min_rows:
                continue
            part = Reference.from_frame(sample[theirs.to_numpy()], features, sample_rows=0)
            drift = compare(
                part,
                window[mine.to_numpy()],
                methods={k: v for k, v in (methods or {}).items() if k in features},
                thresholds={k: v for k, v in (thresholds or {}).items() if k in features},
                workers=1,
            )
            out.append(
                SegmentDrift(column, str(value), int(counts[value]), int(theirs.sum()), drift)
            )
    return out


def _keys(values: pd.Series, numeric: bool) -> pd.Series:
    """Segment values comparable across the window and the sample (2.0 and 2 alike)."""
    if numeric:
        number = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
        text = np.where(np.isfinite(number), np.char.mod("%g", np.nan_to_num(number)), "missing")
        return pd.Series(text, index=values.index)
    return values.astype("string").fillna("missing")
