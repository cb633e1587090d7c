"""`monitor_traffic`: complete windows of the prediction log judged once against the
reference of the version that answered them; performance whenever labels arrive; concept
drift dated to where it began. Injected shifts are each caught by the right check."""

import dataclasses
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from prodml.monitor import Reference
from prodml.monitor.alerts import evaluate_alerts
from prodml.monitor.estimate import fit_estimator, held_out_errors
from prodml.monitor.notify import Notifier, describe
from prodml.monitor.reference import registered_figure
from prodml.monitor.run import monitor_traffic
from prodml.predlog import PredictionLog
from prodml.settings import MonitoringSettings
from prodml.store import Label, MetadataStore

DAY0 = datetime(2026, 3, 2, tzinfo=UTC)


def _rows(rng, n: int, shift: float = 0.0, flip_from: int | None = None) -> pd.DataFrame:
    """Rows of a world where P(y=1) = sigmoid(2·size), scored by a model that knows it;
    `shift` moves the inputs; from row `flip_from` on, the label's relation to them is
    reversed."""
    size = rng.normal(shift, 1.0, n)
    truth = 1 / (1 + np.exp(-2 * size))
    flipped = np.arange(n) >= (n if flip_from is None else flip_from)
    y = rng.uniform(size=n) < np.where(flipped, 1 - truth, truth)
    return pd.DataFrame(
        {
            "size": size,
            "color": rng.choice(["red", "green", "blue"], n),
            "prediction": truth,
            "y": y.astype(int),
        }
    )


def _reference(rng) -> Reference:
    train, holdout = _rows(rng, 5_000), _rows(rng, 5_000)
    reference = Reference.from_frame(train, ["size", "color", "prediction"])
    estimator = fit_estimator(holdout["prediction"], holdout["y"])
    errors = held_out_errors(holdout["prediction"], holdout["y"])
    return dataclasses.replace(  # as registration builds it (Reference.build)
        reference,
        estimator=estimator,
        errors={"mean": errors.mean(), "std": errors.std(), "rows": errors.size},
    )


def _log_day(
    log: PredictionLog,
    rng,
    day: int,
    n: int,
    favour: str | None = None,
    batch: bool = False,
    **world,
) -> pd.DataFrame:
    """One day of logged traffic; with `favour`, that colour's scores are pushed up by 0.3
    (an unfair model, inputs and labels as before); with `batch`, every row is logged at
    one moment, as a scored file's rows are."""
    rows = _rows(rng, n, **world)
    if favour is not None:
        pushed = np.clip(rows["prediction"] + 0.3, 0, 1)
        rows["prediction"] = np.where(rows["color"] == favour, pushed, rows["prediction"])
    seconds = np.zeros(n) if batch else np.linspace(0, 86_000, n)
    times = [DAY0 + timedelta(days=day, seconds=int(s)) for s in seconds]
    log.append(
        {
            "request_id": f"d{day}-{i}",
            "row": 0,
            "timestamp": t.isoformat(),
            "channel": "http",
            "model": "toy",
            "version": "1",
            "inputs": {"size": r["size"], "color": r["color"]},
            "probability": r["prediction"],
            "label": int(r["prediction"] >= 0.5),
        }
        for i, (t, r) in enumerate(zip(times, rows.to_dict("records"), strict=True))
    )
    return rows.assign(request_id=[f"d{day}-{i}" for i in range(n)])


def _send_labels(metadata: MetadataStore, rows: pd.DataFrame) -> None:
    labels = [Label(r, float(y)) for r, y in zip(rows["request_id"], rows["y"], strict=True)]
    metadata.add_labels("toy", labels, received_at=DAY0)


@pytest.fixture
def metadata(tmp_path):
    store = MetadataStore(f"sqlite:///{tmp_path / 'meta.db'}")
    yield store
    store.close()


def _judge(records, reference, metadata, now: datetime, **settings):
    """One monitoring pass at `now`; `settings` are `MonitoringSettings` fields."""
    return monitor_traffic(
        "toy",
        records,
        lambda v: reference,
        metadata,
        now=now,
        settings=MonitoringSettings(**settings),
    )


def test_each_complete_window_is_judged_once_and_recorded(rng, tmp_path, metadata):
    reference = _reference(rng)
    with PredictionLog(tmp_path / "log") as log:
        _log_day(log, rng, 0, 2_000)
        _log_day(log, rng, 1, 2_000)
        _log_day(log, rng, 2, 2_000, shift=1.0)  # the day the inputs moved
        _log_day(log, rng, 3, 500)  # today, still filling
        records = log.read()

    run = _judge(records, reference, metadata, DAY0 + timedelta(days=3, hours=12))
    assert [(w.start.day, w.rows) for w in run.windows] == [(2, 2_000), (3, 2_000), (4, 2_000)]
    drifted = [[d.feature for d in w.drift if d.drifted] for w in run.windows]
    assert drifted == [[], [], ["size", "prediction"]]
    drift = metadata.list_findings(monitor="drift", model_name="toy")
    # windows × (two features, prediction) × (statistic, flag, deciding rule, chance level)
    assert len(drift) == 3 * 3 * 4
    # The domain classifier agrees, and names the feature that moved.
    assert [w.multivariate.drifted for w in run.windows] == [False, False, True]
    assert run.windows[2].multivariate.drivers[0][0] == "size"
    domain = metadata.list_findings(monitor="multivariate", model_name="toy")
    assert [f.value for f in domain if f.metric == "drifted"] == [0.0, 0.0, 1.0]
    assert _judge(records, reference, metadata, DAY0 + timedelta(days=3, hours=13)).windows == []
    later = _judge(records, reference, metadata, DAY0 + timedelta(days=4, hours=1))
    assert [(w.start.day, w.rows) for w in later.windows] == [(5, 500)]


def test_the_estimate_tracks_realized_auc_under_input_shift(rng, tmp_path, metadata):
    """CBPE before labels; once they come, the realized figure, within its interval of it."""
    reference = _reference(rng)
    with PredictionLog(tmp_path / "log") as log:
        days = [_log_day(log, rng, 0, 3_000), _log_day(log, rng, 1, 3_000, shift=1.0)]
        records = log.read()
    now = DAY0 + timedelta(days=2)
    before = _judge(records, reference, metadata, now)
    assert all(w.realized == {} for w in before.windows)  # no labels yet
    estimated = [w.estimated["roc_auc"] for w in before.windows]
    for day in days:
        _send_labels(metadata, day)
    after = _judge(records, reference, metadata, now)
    assert [w.drift for w in after.windows] == [[], []]  # drift is not judged twice
    for guess, window in zip(estimated, after.windows, strict=True):
        auc = window.realized["roc_auc"]
        assert auc.low <= auc.value <= auc.high
        assert abs(guess - auc.value) < 0.02
    assert after.windows[1].labelled == 3_000
    # A correction (the same number of labels, one changed) is measured again.
    first = days[0].iloc[0]
    flipped = Label(first["request_id"], 1.0 - float(first["y"]))
    metadata.add_labels("toy", [flipped], received_at=DAY0 + timedelta(days=9))
    corrected = _judge(records, reference, metadata, DAY0 + timedelta(days=10))
    assert [w.start.day for w in corrected.windows] == [2]
    # The inputs moved where the model is less sure: more errors, but as many as its
    # probabilities expect. Data drift, not concept drift.
    assert after.concept == []
    assert _judge(records, reference, metadata, now).windows == []  # no new labels


def test_a_changed_label_relationship_is_concept_drift_not_data_drift(rng, tmp_path, metadata):
    reference = _reference(rng)
    with PredictionLog(tmp_path / "log") as log:
        days = [_log_day(log, rng, d, 1_500) for d in range(3)]
        # From noon on the fourth day, the label turns on the inputs; the inputs stay.
        days.append(_log_day(log, rng, 3, 1_500, flip_from=750))
        records = log.read()
    for day in days:
        _send_labels(metadata, day)
    run = _judge(records, reference, metadata, DAY0 + timedelta(days=4))
    assert all(not d.drifted for w in run.windows for d in w.drift)
    assert [s.start.day for s in run.concept] == [5]  # the fourth day, where it began
    (shift,) = run.concept
    assert shift.after > shift.before + 0.05
    # CUSUM against the held-out errors: caught within the hour of the flip (~30 flights).
    flipped_at = DAY0 + timedelta(days=3, hours=12)
    assert flipped_at <= shift.detected_at < flipped_at + timedelta(hours=1)
    auc = [w.realized["roc_auc"].value for w in run.windows]
    assert auc[3] < 0.6 < 0.8 < min(auc[:3])
    # Estimated from the scores alone, the fourth day looks as good as the others.
    assert run.windows[3].estimated["roc_auc"] > 0.7
    started = [
        (f.window_start.day, f.value)
        for f in metadata.list_findings(monitor="concept")
        if f.metric == "shift_started"
    ]
    # Every labelled window says whether a rise began in it; the fourth day's 1 is newer.
    assert sorted(started) == [(2, 0.0), (3, 0.0), (4, 0.0), (5, 0.0), (5, 1.0)]
    assert _judge(records, reference, metadata, DAY0 + timedelta(days=4)).concept == []


def test_no_shift_finds_nothing(rng, tmp_path, metadata):
    reference = _reference(rng)
    with PredictionLog(tmp_path / "log") as log:
        days = [_log_day(log, rng, d, 3_500) for d in range(5)]
        records = log.read()
    for day in days:
        _send_labels(metadata, day)
    run = _judge(records, reference, metadata, DAY0 + timedelta(days=5), segments=["color"])
    assert len(run.windows) == 5
    assert all(not d.drifted for w in run.windows for d in w.drift)
    assert not any(w.multivariate.drifted for w in run.windows)
    assert all(len(w.segments) == 3 for w in run.windows)  # red, green, blue
    assert not any(s.drifted for w in run.windows for s in w.segments)
    assert run.concept == []
    # The control raises no alert under the default rules.
    rules = MonitoringSettings().rules
    assert evaluate_alerts("toy", rules, metadata, Notifier(), now=DAY0 + timedelta(days=5)) == []


def test_windows_follow_the_calendar_of_the_given_time_zone(rng, tmp_path, metadata):
    reference = _reference(rng)
    with PredictionLog(tmp_path / "log") as log:
        _log_day(log, rng, 0, 1_000)  # 00:00–23:53 UTC: two days in New York
        records = log.read()
    run = _judge(
        records,
        reference,
        metadata,
        DAY0 + timedelta(days=2),
        freq="D",
        timezone="America/New_York",
    )
    assert [w.start.isoformat() for w in run.windows] == [
        "2026-03-01T00:00:00-05:00",
        "2026-03-02T00:00:00-05:00",
    ]


def test_count_windows_judge_each_full_run_of_predictions_once(rng, tmp_path, metadata):
    reference = _reference(rng)
    with PredictionLog(tmp_path / "log") as log:
        _log_day(log, rng, 0, 2_500)
        records = log.read()

    def judge():
        return _judge(records, reference, metadata, DAY0 + timedelta(days=9), rows=1_000)

    assert [w.rows for w in judge().windows] == [1_000, 1_000]  # 500 rows still to come
    assert judge().windows == []


def test_count_windows_cut_from_one_batch_file_each_keep_their_own_findings(
    rng, tmp_path, metadata
):
    """A scored file's rows share one timestamp; its windows used to share one key, so
    ten judged windows were stored, alerted and charted as one."""
    reference = _reference(rng)
    with PredictionLog(tmp_path / "log") as log:
        _log_day(log, rng, 0, 5_000, batch=True)
        records = log.read()
    run = _judge(records, reference, metadata, DAY0 + timedelta(days=1), rows=500)
    assert len(run.windows) == 10
    drift = metadata.list_findings(monitor="drift", model_name="toy")
    assert len({f.window_start for f in drift}) == 10
    assert _judge(records, reference, metadata, DAY0 + timedelta(days=1), rows=500).windows == []


def test_a_window_under_the_minimum_is_reported_too_small_not_judged(rng, tmp_path, metadata):
    reference = _reference(rng)
    with PredictionLog(tmp_path / "log") as log:
        _log_day(log, rng, 0, 150, shift=2.0)  # a quiet day, far from the reference
        records = log.read()
    (window,) = _judge(records, reference, metadata, DAY0 + timedelta(days=1)).windows
    assert window.too_small
    assert window.drift == []
    (recorded,) = metadata.list_findings(monitor="drift", model_name="toy")
    assert (recorded.metric, recorded.value) == ("too_small", 150.0)


def test_fairness_gaps_are_recomputed_per_labelled_window(rng, tmp_path, metadata):
    reference = _reference(rng)
    with PredictionLog(tmp_path / "log") as log:
        days = [_log_day(log, rng, 0, 3_000), _log_day(log, rng, 1, 3_000, favour="red")]
        records = log.read()
    for day in days:
        _send_labels(metadata, day)
    run = _judge(records, reference, metadata, DAY0 + timedelta(days=2), sensitive=["color"])
    fair, skewed = (w.fairness["color"] for w in run.windows)
    assert set(fair["groups"]) == {"red", "green", "blue"}
    assert fair["demographic_parity_difference"] < 0.06
    assert skewed["demographic_parity_difference"] > 0.15
    assert skewed["groups"]["red"]["selection_rate"] > skewed["groups"]["blue"]["selection_rate"]
    gaps = [
        f.value
        for f in metadata.list_findings(monitor="fairness")
        if f.metric == "demographic_parity_difference"
    ]
    assert gaps == [fair["demographic_parity_difference"], skewed["demographic_parity_difference"]]


def test_a_new_category_is_caught_on_that_feature_and_alerted(rng, tmp_path, metadata):
    reference = _reference(rng)
    with PredictionLog(tmp_path / "log") as log:
        _log_day(log, rng, 0, 2_000)
        rows = _rows(rng, 2_000)
        log.append(
            {
                "request_id": f"new-{i}",
                "timestamp": (DAY0 + timedelta(days=1, seconds=i)).isoformat(),
                "version": "1",
                "inputs": {"size": r["size"], "color": "ultraviolet" if i % 4 == 0 else r["color"]},
                "probability": r["prediction"],
                "label": int(r["prediction"] >= 0.5),
            }
            for i, r in enumerate(rows.to_dict("records"))
        )
        records = log.read()
    now = DAY0 + timedelta(days=2)
    run = _judge(records, reference, metadata, now)
    assert [[d.feature for d in w.drift if d.drifted] for w in run.windows] == [[], ["color"]]
    events = evaluate_alerts("toy", MonitoringSettings().rules, metadata, Notifier(), now=now)
    # The domain classifier tells the window apart too, by that feature.
    assert {(e.alert.rule, e.alert.subject) for e in events} == {
        ("feature-drift", "color"),
        ("multivariate-drift", ""),
    }
    assert all(e.alert.detail["drivers"] == ["color"] for e in events)


def test_a_rise_in_refused_rows_is_a_finding_and_an_alert_naming_the_reason(
    rng, tmp_path, metadata
):
    """Rows refused at scoring never reach the drift checks; an upstream rename of a
    category shows up here, with the value it was renamed to."""
    reference = _reference(rng)
    with PredictionLog(tmp_path / "log") as log:
        _log_day(log, rng, 0, 2_000)
        _log_day(log, rng, 1, 1_800)
        log.append(
            {
                "request_id": f"bad-{i}",
                "row": 0,
                "timestamp": (DAY0 + timedelta(days=1, hours=12, seconds=i)).isoformat(),
                "channel": "http",
                "model": "toy",
                "version": "1",
                "sent": {"size": "0.5", "color": "Red "},
                "rejected": ["color: unknown category"],
            }
            for i in range(200)
        )
        records = log.read()
    now = DAY0 + timedelta(days=2)
    run = _judge(records, reference, metadata, now)
    clean, refused = (w.quality for w in run.windows)
    assert clean.rejected == 0
    assert (refused.rows, refused.rejected) == (2_000, 200)
    assert refused.unseen["color"] == [("Red ", pytest.approx(0.1))]
    assert run.windows[1].rows == 1_800  # the answered rows, which drift is judged on
    assert [[d.feature for d in w.drift if d.drifted] for w in run.windows] == [[], []]
    shares = [
        (f.window_start.day, f.value)
        for f in metadata.list_findings(monitor="quality", model_name="toy")
        if f.metric == "rejected_share"
    ]
    assert shares == [(2, 0.0), (3, 0.1)]
    events = evaluate_alerts("toy", MonitoringSettings().rules, metadata, Notifier(), now=now)
    (event,) = [e for e in events if e.alert.rule == "rejected-rows"]
    assert describe(event.alert) == (
        "10.0% of rows were refused before scoring in the window ending 2026-03-04 00:00 UTC, "
        "one window; most for color: unknown category (10.0%)."
    )


def test_a_window_of_refusals_alone_is_judged_for_quality(rng, tmp_path, metadata):
    reference = _reference(rng)
    with PredictionLog(tmp_path / "log") as log:
        log.append(
            {
                "request_id": f"bad-{i}",
                "row": 0,
                "timestamp": (DAY0 + timedelta(seconds=i)).isoformat(),
                "version": "1",
                "sent": {"size": "huge"},
                "rejected": ["size: not a number", "color: missing"],
            }
            for i in range(300)
        )
        records = log.read()
    (window,) = _judge(records, reference, metadata, DAY0 + timedelta(days=1)).windows
    assert window.too_small
    assert window.rows == 0
    assert window.quality.rejected_share == 1.0
    assert window.quality.reasons == {"size: not a number": 300, "color: missing": 300}


def test_realized_performance_worse_than_at_registration_is_a_drop_whatever_came_before(
    rng, tmp_path, metadata
):
    """Judged against the interval measured on held-out rows at registration, not against
    the traffic before it: the first window can be the one that dropped."""
    holdout = _rows(rng, 5_000)
    registered = registered_figure("classification", holdout["y"], holdout["prediction"].to_numpy())
    reference = dataclasses.replace(_reference(rng), registered=registered)
    with PredictionLog(tmp_path / "log") as log:
        days = [_log_day(log, rng, 0, 2_000, flip_from=1_000), _log_day(log, rng, 1, 2_000)]
        records = log.read()
    for day in days:
        _send_labels(metadata, day)
    now = DAY0 + timedelta(days=2)
    run = _judge(records, reference, metadata, now)
    assert [w.worse["performance"] for w in run.windows] == [1.0, 0.0]
    # From the scores alone the first day looks as good as registration: no estimated drop.
    assert [w.worse["estimate"] for w in run.windows] == [0.0, 0.0]
    events = evaluate_alerts("toy", MonitoringSettings().rules, metadata, Notifier(), now=now)
    (drop,) = [e.alert for e in events if e.alert.rule == "performance-drop"]
    auc = run.windows[0].realized["roc_auc"]
    assert describe(drop) == (
        f"Performance, realized, fell below what registration measured: roc_auc "
        f"{auc.value:.3f} [{auc.low:.3f}, {auc.high:.3f}] lies wholly on the worse side of "
        "the registration's interval in the window ending 2026-03-03 00:00 UTC, one window."
    )
    assert drop.status == "resolved"  # the next day passed


def test_per_feature_methods_and_thresholds_apply(rng, tmp_path, metadata):
    reference = _reference(rng)
    with PredictionLog(tmp_path / "log") as log:
        _log_day(log, rng, 0, 2_000, shift=0.15)  # past Wasserstein's 0.1, far under PSI 0.5
        records = log.read()
    run = _judge(
        records,
        reference,
        metadata,
        DAY0 + timedelta(days=1),
        methods={"size": "psi"},
        thresholds={"size": 0.5},
    )
    (size,) = [d for d in run.windows[0].drift if d.feature == "size"]
    assert (size.method, size.threshold, size.drifted) == ("psi", 0.5, False)


def test_the_domain_classifier_leaves_out_excluded_inputs(rng, tmp_path, metadata):
    reference = _reference(rng)
    with PredictionLog(tmp_path / "log") as log:
        _log_day(log, rng, 0, 2_000, shift=1.0)
        records = log.read()
    run = _judge(
        records, reference, metadata, DAY0 + timedelta(days=1), multivariate_exclude=["size"]
    )
    (window,) = run.windows
    assert "size" in [d.feature for d in window.drift if d.drifted]  # still judged alone
    assert [f for f, _ in window.multivariate.drivers] == ["color"]
    assert not window.multivariate.drifted


def test_an_empty_log_and_a_version_without_a_reference_are_reported_not_fatal(
    rng, tmp_path, metadata
):
    from prodml.errors import NotFoundError

    reference = _reference(rng)
    assert _judge(pd.DataFrame(), reference, metadata, DAY0).windows == []
    with PredictionLog(tmp_path / "log") as log:
        _log_day(log, rng, 0, 500)
        log.append(
            {**r, "version": "2", "request_id": f"v2-{i}"}
            for i, r in enumerate(log.read().to_dict("records"))
        )
        records = log.read()

    def reference_of(version: str):
        if version == "1":
            raise NotFoundError("No drift reference for toy version 1.")
        return reference

    run = monitor_traffic("toy", records, reference_of, metadata, now=DAY0 + timedelta(days=1))
    assert run.skipped == {"1": "No drift reference for toy version 1."}
    assert [w.version for w in run.windows] == ["2"]
