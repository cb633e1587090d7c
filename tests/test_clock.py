from datetime import UTC, datetime, timedelta, timezone

import pytest

from prodml.clock import SimulatedClock, SystemClock


def test_system_clock_is_utc_and_current():
    now = SystemClock().now()
    assert now.tzinfo is not None
    assert now.utcoffset() == timedelta(0)
    assert abs(now - datetime.now(UTC)) < timedelta(seconds=5)


def test_simulated_clock_moves_only_when_told():
    clock = SimulatedClock(datetime(2013, 1, 1, tzinfo=UTC))
    assert clock.now() == clock.now() == datetime(2013, 1, 1, tzinfo=UTC)
    assert clock.advance(timedelta(hours=2)) == datetime(2013, 1, 1, 2, tzinfo=UTC)
    clock.set(datetime(2013, 6, 1, tzinfo=UTC))
    assert clock.now() == datetime(2013, 6, 1, tzinfo=UTC)


def test_simulated_clock_normalises_to_utc():
    eastern = timezone(timedelta(hours=-5))
    clock = SimulatedClock(datetime(2013, 1, 1, 5, tzinfo=eastern))
    assert clock.now() == datetime(2013, 1, 1, 10, tzinfo=UTC)
    assert clock.now().tzinfo == UTC


def test_simulated_clock_refuses_naive_and_backwards_time():
    with pytest.raises(ValueError, match="timezone-aware"):
        SimulatedClock(datetime(2013, 1, 1))
    clock = SimulatedClock(datetime(2013, 1, 2, tzinfo=UTC))
    with pytest.raises(ValueError, match="cannot move backwards"):
        clock.set(datetime(2013, 1, 1, tzinfo=UTC))
    with pytest.raises(ValueError, match="non-negative"):
        clock.advance(timedelta(seconds=-1))
