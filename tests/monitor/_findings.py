"""Findings as a monitoring run would record them, for tests of what reads them."""

from datetime import UTC, datetime, timedelta

from prodml.store import Finding

T0 = datetime(2013, 7, 1, tzinfo=UTC)


def daily_finding(
    day: int,
    monitor: str,
    metric: str,
    value: float,
    feature: str | None = None,
    *,
    version: str = "1",
    late: int = 0,
) -> Finding:
    """A finding of model "m" over the day-long window `day` days after `T0`, recorded
    `late` days after that window closed (a re-measurement, when later than another)."""
    start = T0 + timedelta(days=day)
    return Finding(
        monitor=monitor,
        model_name="m",
        model_version=version,
        window_start=start,
        window_end=start + timedelta(days=1),
        metric=metric,
        feature=feature,
        value=value,
        created_at=start + timedelta(days=1 + late),
    )
