"""Realized model performance per time window, once labels are known."""

from __future__ import annotations

import pandas as pd

from prodml.train.evaluate import classification_metrics


def metrics_by_window(
    frame: pd.DataFrame, *, time: str, label: str, score: str, freq: str = "MS"
) -> pd.DataFrame:
    """One row per window (pandas offset alias; "MS" = calendar month) with its metrics."""
    windows = frame.groupby(pd.Grouper(key=time, freq=freq))
    rows = [
        {
            "window_start": start,
            "rows": len(part),
            **classification_metrics(part[label], part[score]),
        }
        for start, part in windows
        if len(part)
    ]
    return pd.DataFrame(rows)
