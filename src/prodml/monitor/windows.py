"""Cut a table into consecutive windows, by time or by count: the unit every monitor
reports on."""

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
    # Left-closed and labelled by the start: pandas' own default for weeks (W-MON) and
    # month ends is the opposite, which would date each window a period late.
    grouper = pd.Grouper(key=time, freq=freq, closed="left", label="left")
    for start, rows in frame.groupby(grouper):
        if len(rows):
            begin = pd.Timestamp(start)  # type: ignore[arg-type]  # a Grouper key is one Timestamp
            yield Window(begin, begin + offset, rows)


def count_windows(frame: pd.DataFrame, *, time: str, size: int) -> Iterator[Window]:
    """Consecutive windows of `size` rows in `time` order (log order among equal times),
    from the first row; the last, short of `size`, is still filling and not given.

    A window runs from its first row's time to just after its last row's, so windows cut
    from a longer log of the same rows are the same windows. Rows of one batch share one
    time, and so would the windows cut from them: each window then starts where the one
    before ended and lasts a microsecond, so every window keeps a key of its own."""
    if size < 1:
        raise ValueError(f"A count window needs size >= 1 rows; got {size}.")
    ordered = frame.sort_values(time, kind="stable")
    tick = pd.Timedelta(microseconds=1)
    previous_end: pd.Timestamp | None = None
    for begin in range(0, len(ordered) - size + 1, size):
        rows = ordered.iloc[begin : begin + size]
        start, end = pd.Timestamp(rows[time].iloc[0]), pd.Timestamp(rows[time].iloc[-1]) + tick
        if previous_end is not None and start < previous_end:
            start = previous_end
            end = max(end, start + tick)
        previous_end = end
        yield Window(start, end, rows)
