"""The one source of "now" for every component.

Components take a `Clock` instead of calling `datetime.now()`, so tests and replays can
drive time: a year of traffic replays in minutes under a `SimulatedClock`.

>>> from datetime import UTC, datetime, timedelta
>>> clock = SimulatedClock(datetime(2013, 7, 1, tzinfo=UTC))
>>> clock.advance(timedelta(hours=1)).isoformat()
'2013-07-01T01:00:00+00:00'
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Protocol, runtime_checkable


@runtime_checkable
class Clock(Protocol):
    """Anything that can tell the current time as a timezone-aware UTC datetime."""

    def now(self) -> datetime: ...


class SystemClock:
    """The wall clock, in UTC."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class SimulatedClock:
    """A clock that only moves when told to; thread-safe."""

    def __init__(self, start: datetime) -> None:
        self._now = _as_utc(start, "start")
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def set(self, when: datetime) -> datetime:
        """Jump to `when`; moving backwards is refused, as real time never does."""
        when = _as_utc(when, "when")
        with self._lock:
            if when < self._now:
                raise ValueError(
                    f"SimulatedClock cannot move backwards: it is {self._now.isoformat()}, "
                    f"got {when.isoformat()}. Create a new clock to restart a replay."
                )
            self._now = when
            return when

    def advance(self, delta: timedelta) -> datetime:
        """Move forward by `delta` (which must not be negative) and return the new time."""
        if delta < timedelta(0):
            raise ValueError(f"SimulatedClock.advance needs a non-negative delta, got {delta}.")
        with self._lock:
            self._now += delta
            return self._now


def _as_utc(when: datetime, name: str) -> datetime:
    if when.tzinfo is None:
        raise ValueError(
            f"{name} must be timezone-aware, got naive {when.isoformat()}; "
            "pass e.g. datetime(..., tzinfo=datetime.UTC)."
        )
    return when.astimezone(UTC)
