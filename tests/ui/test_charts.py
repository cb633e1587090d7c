"""The console's charts, read back from the figure matplotlib drew."""

from datetime import UTC, datetime, timedelta

from matplotlib.dates import num2date

from prodml.ui.charts import traffic_shares

START = datetime(2013, 7, 1, tzinfo=UTC)
CANARY = [(START, 0.0), (START + timedelta(days=10), 0.1), (START + timedelta(days=20), 1.0)]
STABLE = [(START, 1.0), (START + timedelta(days=10), 0.9), (START + timedelta(days=20), 0.0)]


def _x_range(now: datetime) -> tuple[datetime, datetime]:
    (ax,) = traffic_shares({"1": STABLE, "2": CANARY}, now).axes
    low, high = ax.get_xlim()
    return num2date(low), num2date(high)


def test_a_replayed_history_is_drawn_to_its_last_change_not_to_years_later():
    _, high = _x_range(datetime(2026, 12, 6, tzinfo=UTC))
    # Twenty days of history, drawn two days past its last change (a tenth of it), with
    # matplotlib's margin.
    assert high <= START + timedelta(days=25)


def test_a_live_deployments_shares_run_on_to_now():
    now = START + timedelta(days=21)
    _, high = _x_range(now)
    assert high >= now
