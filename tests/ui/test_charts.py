"""The console's charts, read back from the figure matplotlib drew."""

from datetime import UTC, datetime, timedelta

from matplotlib.dates import num2date

from prodml.store import PolicyChange
from prodml.ui.charts import rollout_checks, traffic_shares

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


def _analysis(revision: int, action: str, low: float, verdict: str = "pass") -> PolicyChange:
    errors = {"verdict": verdict, "difference": low + 0.01, "low": low, "margin": 0.01}
    skipped = {"verdict": "abstain", "reason": "10 rows so far", "rows": 10}
    return PolicyChange(
        "d",
        revision,
        {},
        "analysis",
        action,
        "",
        START + timedelta(hours=revision),
        {"checks": {"errors": errors, "realized": skipped}},
    )


def test_the_checks_chart_draws_each_judged_check_its_decisions_and_its_failures():
    changes = [
        PolicyChange("d", 1, {}, "ann", "create", "", START),
        PolicyChange("d", 2, {}, "ann", "canary", "", START),
        _analysis(3, "hold", -0.02),
        _analysis(4, "advance", -0.01),
        _analysis(5, "rollback", 0.02, "fail"),
    ]
    (errors,) = rollout_checks(changes).axes  # the check that only abstained has no panel
    assert errors.get_ylabel() == "errors"
    decisions = [line for line in errors.lines if line.get_xdata()[0] == line.get_xdata()[-1]]
    assert len(decisions) == 2  # the advance and the rollback
    (failures,) = errors.collections[1:]  # past the band: the one failed analysis, crossed
    assert failures.get_offsets().tolist() == [[failures.get_offsets()[0][0], 0.02]]


def test_with_no_analysis_yet_there_is_no_checks_chart():
    assert rollout_checks([PolicyChange("d", 1, {}, "ann", "create", "", START)]) is None
