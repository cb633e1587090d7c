"""`prodml monitor run`: drift findings for each complete window of a model's traffic that
has none yet, against the reference of the version that answered it.

Incremental: a window is judged once, when it is complete (its end is past), and its
findings say so; the next run starts after the last judged window of that version.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import pandas as pd

from prodml.monitor.compare import FeatureDrift, compare
from prodml.monitor.reference import Reference
from prodml.monitor.traffic import PREDICTION, traffic_frame
from prodml.monitor.windows import time_windows
from prodml.store import Finding, MetadataStore

DRIFT = "drift"


@dataclass(frozen=True)
class WindowDrift:
    version: str
    start: datetime
    end: datetime
    rows: int
    drift: list[FeatureDrift]


def monitor_traffic(
    name: str,
    records: pd.DataFrame,
    reference_of: Callable[[str], Reference],
    metadata: MetadataStore,
    *,
    now: datetime,
    freq: str = "D",
) -> list[WindowDrift]:
    """Judge and record every complete `freq` window of `records` (a prediction log)
    not judged before; returns what it judged, oldest first."""
    traffic = traffic_frame(records)
    judged = _last_judged(metadata, name)
    out: list[WindowDrift] = []
    for version, rows in traffic.groupby("version", sort=True):
        reference: Reference | None = None  # loaded once a window of it needs judging
        after = judged.get(str(version))
        for window in time_windows(rows, time="timestamp", freq=freq):
            if window.end > now or (after is not None and window.end <= after):
                continue  # still filling, or judged already
            reference = reference or reference_of(str(version))
            drift = compare(reference, window.rows)
            out.append(
                WindowDrift(
                    str(version),
                    window.start.to_pydatetime(),
                    window.end.to_pydatetime(),
                    len(window.rows),
                    drift,
                )
            )
    metadata.add_findings(f for w in out for f in _findings(name, w, now))
    return sorted(out, key=lambda w: (w.start, w.version))


def _last_judged(metadata: MetadataStore, name: str) -> dict[str, datetime]:
    last: dict[str, datetime] = {}
    for finding in metadata.list_findings(monitor=DRIFT, model_name=name):
        seen = last.get(finding.model_version)
        if seen is None or finding.window_end > seen:
            last[finding.model_version] = finding.window_end
    return {v: pd.Timestamp(t).tz_convert("UTC") for v, t in last.items()}


def _findings(name: str, window: WindowDrift, now: datetime) -> list[Finding]:
    def finding(metric: str, feature: str, value: float) -> Finding:
        return Finding(
            monitor=DRIFT,
            model_name=name,
            model_version=window.version,
            window_start=window.start,
            window_end=window.end,
            metric=metric,
            feature=feature,
            value=value,
            created_at=now,
        )

    out = []
    for d in window.drift:
        out.append(finding(d.method, d.feature, d.statistic))
        out.append(finding("drifted", d.feature, float(d.drifted)))
    return out


__all__ = ["PREDICTION", "WindowDrift", "monitor_traffic"]
