"""Cut a table into consecutive time windows, the unit every monitor reports on."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pandas as pd


@dataclass(frozen=True)
class Window:
    start: pd.Timestamp
    end: pd.Timestamp  # exclusive
    rows: pd.DataFrame


def time_windows(frame: pd.DataFrame, *, time: str, freq: str = "MS") -> Iterator[Window]:
    """Non-empty windows of `frame` by its `time` column, in order.

    `freq` is a pandas offset alias ("MS" = calendar months, "W-MON" = weeks, "D" = days);
    calendar windows follow the column's own time zone, so give local times for local
    months.
    """
    offset = pd.tseries.frequencies.to_offset(freq)
    for start, rows in frame.groupby(pd.Grouper(key=time, freq=freq)):
        if len(rows):
            begin = pd.Timestamp(start)  # type: ignore[arg-type]  # a Grouper key is one Timestamp
            yield Window(begin, begin + offset, rows)
