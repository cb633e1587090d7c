"""`prodml monitor run`: findings for a model's traffic, window by window, incrementally.

For each complete window (its end is past) of each version's traffic:
- drift per feature and of the prediction against that version's reference, multivariate
  drift (a domain classifier), drift per declared segment, and the label-free performance
  estimate (classifiers), once, when the window completes;
- data quality: the rows refused before scoring, by reason; missing values; values
  training never saw (`quality.py`), once, when the window completes;
- realized performance (overall and per slice, with intervals) whenever more of its
  labels have arrived than when it was last measured, and both it and the estimate held
  to the interval measured at registration (`WORSE`);
and, over each version's labelled rows in time order, concept drift (CUSUM on the excess
error, see `_concept`), dated to the window where the rise in errors began.

Every result is a `Finding` in the metadata DB; what is there already is not redone.
"""

from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from prodml.errors import NotFoundError
from prodml.monitor.chance import ChanceLevels, levels_for
from prodml.monitor.compare import RULES, FeatureDrift, compare, statistic
from prodml.monitor.concept import ConceptDrift, cusum, page_hinkley
from prodml.monitor.estimate import estimate, excess_error
from prodml.monitor.explain import Explainer, importance_shift
from prodml.monitor.fairness import GAPS, bias_drift, group_metrics
from prodml.monitor.labels import LABEL, LABELLED_AT, apply_overrides, join_labels
from prodml.monitor.multivariate import MultivariateDrift, domain_classifier
from prodml.monitor.performance import Figure, realized, realized_by_slice
from prodml.monitor.quality import (
    MISSING_SHARE,
    OUT_OF_RANGE,
    REJECTED_BY_REASON,
    REJECTED_SHARE,
    UNSEEN_SHARE,
    Quality,
    data_quality,
)
from prodml.monitor.reference import Reference
from prodml.monitor.segments import SegmentDrift, segment_drift
from prodml.monitor.traffic import DECISION, PREDICTION, REJECTED, traffic_frame
from prodml.monitor.windows import Window, count_windows, time_windows
from prodml.settings import MonitoringSettings
from prodml.store import Finding, MetadataStore

if TYPE_CHECKING:
    from prodml.monitor.alerts import AlertEvent
    from prodml.predlog import PredictionLog

DRIFT, ESTIMATE, PERFORMANCE, CONCEPT = "drift", "estimate", "performance", "concept"
MULTIVARIATE, SEGMENT, FAIRNESS, QUALITY = "multivariate", "segment", "fairness", "quality"
EXPLAIN, SHIFT = "explain", "importance_shift"  # how far importance moved from registration
BIAS_DRIFT = "bias_drift"  # 1: a group gap widened past its registration value beyond chance
# 1 when a window's interval lies wholly on the worse side of the figure measured on
# held-out rows at registration (`Reference.registered`), else 0: a drop that does not
# depend on how much history came before it, nor on a threshold someone had to pick.
WORSE = "worse_than_registered"
UNSEEN = "unseen_category"  # a category training never saw: its share ("<feature>=<value>")
DRIVERS = 5  # the domain classifier's features recorded per window
LABELLED = "labelled"
TOO_SMALL = "too_small"  # a window's rows, when fewer than monitoring.min_rows
RULE = "rule"  # which rule decided a feature's verdict: its index in compare.RULES
CHANCE = "chance"  # what the feature's statistic reaches by chance at the window's size
SHIFT_STARTED = "shift_started"  # 1 in the window a rise in errors began, 0 in the others
_NAME = 255  # the findings table's feature column
# Page-Hinkley's evidence threshold on the error: real traffic errs in bursts (a storm
# delays a whole afternoon), so far more than the i.i.d. default of 25 is asked for.
CONCEPT_EVIDENCE = 100.0
# CUSUM against the held-out excess error: the smallest rise worth catching (in its
# standard deviations; a 30 % label flip raises it by about 0.14) and the rows that pass,
# on average, between false alarms when nothing changed (expected delay at 0.14: ~900 rows).
CONCEPT_SHIFT = 0.1
CONCEPT_FALSE_ALARM_ROWS = 1_000_000


@dataclass(frozen=True)
class WindowResult:
    """What one run found in one window (empty parts were not due this run)."""

    version: str
    start: datetime
    end: datetime
    rows: int
    labelled: int
    drift: list[FeatureDrift] = field(default_factory=list)
    estimated: dict[str, float] = field(default_factory=dict)
    realized: dict[str, Figure] = field(default_factory=dict)
    multivariate: MultivariateDrift | None = None
    segments: list[SegmentDrift] = field(default_factory=list)
    fairness: dict[str, dict[str, Any]] = field(default_factory=dict)
    too_small: bool = False  # fewer rows than monitoring.min_rows: drift not judged
    quality: Quality | None = None  # refusals, missing and never-seen values
    worse: dict[str, float] = field(default_factory=dict)  # ESTIMATE/PERFORMANCE -> 1 or 0
    # Each feature's share of the scores' movement, and SHIFT from registration's.
    importance: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class ConceptShift:
    """A rise in a version's error rate: the window it began in, and when it was detected."""

    version: str
    start: datetime
    end: datetime
    detected_at: datetime
    before: float  # mean error before the rise began
    after: float  # and from there to the detection


@dataclass(frozen=True)
class MonitorRun:
    windows: list[WindowResult]
    concept: list[ConceptShift]
    skipped: dict[str, str] = field(default_factory=dict)  # version -> why it was not judged


def monitor_and_alert(
    name: str,
    log: PredictionLog,
    reference_of: Callable[[str], Reference],
    metadata: MetadataStore,
    *,
    now: datetime,
    settings: MonitoringSettings,
    explainer_of: Callable[[str], Explainer | None] | None = None,
) -> tuple[MonitorRun, list[AlertEvent]]:
    """One monitoring pass over model `name`'s prediction `log`: findings for what is due
    (see `monitor_traffic`), then the alert rules of `settings`, notified where
    `settings.notify` says (a bad URL fails before any work is done)."""
    from prodml.monitor.alerts import evaluate_alerts
    from prodml.monitor.notify import Notifier

    notifier = Notifier(settings.notify)
    if not log.folder.exists():
        raise NotFoundError(
            f"No prediction log for {name!r} at {log.folder}: serve or batch-score it first."
        )
    run = monitor_traffic(
        name,
        log.read(),
        reference_of,
        metadata,
        now=now,
        settings=settings,
        explainer_of=explainer_of,
    )
    return run, evaluate_alerts(name, settings.rules, metadata, notifier, now=now)


def monitor_traffic(
    name: str,
    records: pd.DataFrame,
    reference_of: Callable[[str], Reference],
    metadata: MetadataStore,
    *,
    now: datetime,
    settings: MonitoringSettings | None = None,
    explainer_of: Callable[[str], Explainer | None] | None = None,
) -> MonitorRun:
    """Judge and record what is due in `records` (a prediction log of model `name`), as
    `settings` say (default: `MonitoringSettings()`): windows are `freq` periods of the
    calendar in `timezone`, or runs of `rows` predictions; `slices` get realized
    performance per value, `segments` drift per value, `sensitive` attributes fairness's
    group metrics; `methods` and `thresholds` set the drift test per feature, and the
    domain classifier leaves out `multivariate_exclude`. With `explainer_of` (a version's
    `monitor.explain.Explainer`), each window's feature importance and its shift from
    registration's too."""
    plan = settings or MonitoringSettings()
    if records.empty:
        return MonitorRun([], [])
    traffic = join_labels(traffic_frame(records, rejected=True), metadata.list_labels(name))
    # What a person decided in the model's place is the decision that stood.
    traffic = apply_overrides(traffic, metadata.list_overrides(name))
    traffic["timestamp"] = traffic["timestamp"].dt.tz_convert(plan.timezone)
    done = _Done(metadata.list_findings(model_name=name))
    results: list[WindowResult] = []
    shifts: list[ConceptShift] = []
    skipped: dict[str, str] = {}
    for version, rows in traffic.groupby("version", sort=True):
        version = str(version)
        # Loaded once, and only when a window needs it.
        reference = functools.cache(functools.partial(reference_of, version))
        # Null distributions are drawn once per window size, kept between passes.
        chance = functools.cache(lambda reference=reference: levels_for(reference(), statistic))
        explain = functools.cache(
            lambda version=version: explainer_of(version) if explainer_of else None
        )
        cut = (
            count_windows(rows, time="timestamp", size=plan.rows)
            if plan.rows
            else time_windows(rows, time="timestamp", freq=plan.freq)
        )
        windows = [w for w in cut if w.end <= now]
        try:  # one version without a reference must not stop the others being judged
            for window in windows:
                result = _judge(window, version, done, reference, chance, plan, explain)
                if result is not None:
                    results.append(result)
            shifts += _concept(rows, version, windows, done, reference)
        except NotFoundError as exc:
            skipped[version] = exc.message
    findings = [f for r in results for f in _window_findings(name, r, now)]
    findings += [f for s in shifts for f in _concept_findings(name, s, now)]
    metadata.add_findings(findings)
    return MonitorRun(sorted(results, key=lambda r: (r.start, r.version)), shifts, skipped)


class _Done:
    """What earlier runs recorded: the drift windows judged, the labelled rows each
    window's performance was measured on, and the concept shifts found."""

    def __init__(self, findings: list[Finding]) -> None:
        self.judged: dict[str, datetime] = {}
        self.labelled: dict[tuple[str, datetime], float] = defaultdict(float)
        self.measured: dict[tuple[str, datetime], datetime] = {}
        self.shifts: set[tuple[str, datetime]] = set()
        for f in findings:  # the store hands times back in UTC
            key = (f.model_version, f.window_start)
            if f.monitor == DRIFT:
                last = self.judged.get(f.model_version, f.window_end)
                self.judged[f.model_version] = max(last, f.window_end)
            elif f.monitor == PERFORMANCE and f.metric == LABELLED:
                self.labelled[key] = max(self.labelled[key], f.value)
                self.measured[key] = max(self.measured.get(key, f.created_at), f.created_at)
            elif f.monitor == CONCEPT and f.metric == SHIFT_STARTED and f.value > 0.5:
                self.shifts.add(key)

    def drift_due(self, version: str, window: Window) -> bool:
        last = self.judged.get(version)
        return last is None or window.end > last

    def labels_due(self, version: str, window: Window, labelled: pd.DataFrame) -> bool:
        """More labels than when last measured, or one recorded since (a correction)."""
        key = (version, _utc(window.start))
        if len(labelled) > self.labelled[key]:
            return True
        measured = self.measured.get(key)
        newest = labelled[LABELLED_AT].max() if len(labelled) else None
        return measured is not None and newest is not None and newest > measured


def _judge(
    window: Window,
    version: str,
    done: _Done,
    reference: Callable[[], Reference],
    chance: Callable[[], ChanceLevels],
    plan: MonitoringSettings,
    explain: Callable[[], Explainer | None] = lambda: None,
) -> WindowResult | None:
    every = window.rows  # refused rows too: only data quality looks at those
    rows = every[every[REJECTED].isna()]
    labelled = rows[rows[LABEL].notna()]
    drift_due = done.drift_due(version, window)
    labels_due = done.labels_due(version, window, labelled)
    if not (drift_due or labels_due):
        return None
    # Too few rows to judge drift by; realized performance still is (its interval says
    # how little it rests on). A window of refusals alone is still judged for quality.
    too_small = drift_due and len(rows) < plan.min_rows
    quality = None
    if drift_due and len(every) >= plan.min_rows:
        quality = data_quality(reference(), every)
    if too_small:
        reference()  # a version that has none is still said so, small windows or not
    drift: list[FeatureDrift] = []
    importance: dict[str, float] = {}
    estimated: dict[str, float] = {}
    multivariate: MultivariateDrift | None = None
    by_segment: list[SegmentDrift] = []
    if drift_due and not too_small:
        ref = reference()
        # Settings may name features an older version's reference does not have.
        methods = {k: v for k, v in plan.methods.items() if k in ref.columns}
        thresholds = {k: v for k, v in plan.thresholds.items() if k in ref.columns}
        drift = compare(ref, rows, methods=methods, thresholds=thresholds, chance=chance())
        # The score follows from the inputs; excluded inputs would separate any window.
        excluded = {PREDICTION, *plan.multivariate_exclude}
        inputs = [c for c in ref.columns if c not in excluded]
        multivariate = domain_classifier(ref, rows, inputs)
        by_segment = segment_drift(ref, rows, plan.segments, methods=methods, thresholds=thresholds)
        if ref.estimator is not None and DECISION in rows and rows[DECISION].notna().all():
            estimated = estimate(ref.estimator, rows[PREDICTION], rows[DECISION])
        shares = explain()
        if shares is not None:
            importance = shares(rows)
            if ref.importance:
                importance[SHIFT] = importance_shift(importance, ref.importance)
    figures: dict[str, Figure] = {}
    fairness: dict[str, dict[str, Any]] = {}
    if labels_due:
        decided = (
            labelled[DECISION].to_numpy(dtype=float, na_value=np.nan)
            if DECISION in labelled
            else None
        )
        figures = realized(labelled[LABEL].to_numpy(), labelled[PREDICTION].to_numpy(), decided)
        for result in realized_by_slice(
            labelled,
            label=LABEL,
            score=PREDICTION,
            slices=plan.slices,
            metric_name="roc_auc" if decided is not None else "rmse",
        ):
            if not result.skipped:
                figures[f"{result.metric}@{result.column}={result.value}"] = Figure(
                    result.estimate, result.low, result.high
                )
        if decided is not None and plan.sensitive:
            fairness = group_metrics(
                labelled, label=LABEL, decision=DECISION, sensitive=plan.sensitive
            )
            for attribute, drifted in bias_drift(fairness, reference().fairness).items():
                fairness[attribute][BIAS_DRIFT] = drifted
    worse = _versus_registration(reference().registered, estimated, figures)
    return WindowResult(
        version,
        window.start.to_pydatetime(),
        window.end.to_pydatetime(),
        len(rows),
        len(labelled),
        drift,
        estimated,
        figures,
        multivariate,
        by_segment,
        fairness,
        too_small,
        quality,
        worse,
        importance,
    )


def _concept(
    rows: pd.DataFrame,
    version: str,
    windows: list[Window],
    done: _Done,
    reference: Callable[[], Reference],
) -> list[ConceptShift]:
    """Each rise in the per-row error of the version's labelled traffic, in time order.
    The test restarts after each detection.

    A classifier with a CBPE calibration is judged on its excess error (see
    `estimate.excess_error`): by CUSUM against the held-out rows' own excess error when
    the reference keeps it (`concept.cusum`, `CONCEPT_SHIFT` and `CONCEPT_FALSE_ALARM_ROWS`),
    else by Page–Hinkley. Otherwise the error is |y − score| (a regression's in units of
    its labels' spread), by Page–Hinkley."""
    labelled = rows[rows[LABEL].notna() & rows[REJECTED].isna()]
    labelled = labelled.sort_values("timestamp", kind="stable")
    if labelled.empty:
        return []
    truth, score = labelled[LABEL].to_numpy(dtype=float), labelled[PREDICTION].to_numpy()
    ref = reference()
    estimator = ref.estimator if DECISION in labelled else None
    if estimator is not None:
        error = excess_error(estimator, score, truth)
    else:
        error = np.abs(truth - score)
        if DECISION not in labelled:
            error = error / (np.std(truth) or 1.0)
    profile = ref.errors if estimator is not None else None

    def detect(errors: np.ndarray) -> ConceptDrift | None:
        if profile is not None and profile["std"] > 0:
            return cusum(
                errors,
                mean=profile["mean"],
                std=profile["std"],
                shift=CONCEPT_SHIFT,
                false_alarm_rows=CONCEPT_FALSE_ALARM_ROWS,
            )
        return page_hinkley(errors, threshold=CONCEPT_EVIDENCE)

    times = labelled["timestamp"].to_numpy()
    out: list[ConceptShift] = []
    offset = 0
    while (found := detect(error[offset:])) is not None:
        start, detected = offset + found.started_at, offset + found.detected_at
        started = pd.Timestamp(times[min(start, len(times) - 1)])
        window = next((w for w in windows if w.start <= started < w.end), None)
        seen = {(s.version, _utc(s.start)) for s in out} | done.shifts
        if window is not None and (version, _utc(window.start)) not in seen:
            out.append(
                ConceptShift(
                    version,
                    window.start.to_pydatetime(),
                    window.end.to_pydatetime(),
                    pd.Timestamp(times[detected]).to_pydatetime(),
                    float(error[offset:start].mean()) if start > offset else float("nan"),
                    float(error[start : detected + 1].mean()),
                )
            )
        offset = detected + 1
    return out


def _window_findings(name: str, result: WindowResult, now: datetime) -> list[Finding]:
    def finding(monitor: str, metric: str, value: float, feature: str | None = None) -> Finding:
        if feature is not None and len(feature) > _NAME:
            feature = feature[: _NAME - 1] + "…"  # a long category must not fail the run
        return Finding(
            monitor=monitor,
            model_name=name,
            model_version=result.version,
            window_start=result.start,
            window_end=result.end,
            metric=metric,
            feature=feature,
            value=value,
            created_at=now,
        )

    out = []
    if result.too_small:  # marks the window judged, so its drift is not looked at again
        out.append(finding(DRIFT, TOO_SMALL, float(result.rows)))
    for d in result.drift:
        out.append(finding(DRIFT, d.method, d.statistic, d.feature))
        out.append(finding(DRIFT, "drifted", float(d.drifted), d.feature))
        out.append(finding(DRIFT, RULE, float(RULES.index(d.rule)), d.feature))
        if d.chance is not None:
            out.append(finding(DRIFT, CHANCE, d.chance, d.feature))
    if result.multivariate is not None:
        m = result.multivariate
        out.append(finding(MULTIVARIATE, "domain_auc", m.auc))
        out.append(finding(MULTIVARIATE, "drifted", float(m.drifted)))
        out += [finding(MULTIVARIATE, "driver", share, f) for f, share in m.drivers[:DRIVERS]]
    for part in result.segments:
        out.append(finding(SEGMENT, "drifted_features", len(part.drifted), part.name))
        out += [finding(SEGMENT, "drifted", 1.0, f"{part.name}/{f}") for f in part.drifted]
    out += [finding(ESTIMATE, metric, value) for metric, value in result.estimated.items()]
    if result.quality is not None:
        out += _quality_findings(result.quality, finding)
    out += [finding(monitor, WORSE, value) for monitor, value in result.worse.items()]
    for feature, share in result.importance.items():
        if feature == SHIFT:
            out.append(finding(EXPLAIN, SHIFT, share))
        else:
            out.append(finding(EXPLAIN, "importance", share, feature))
    for attribute, found in result.fairness.items():
        out += [finding(FAIRNESS, gap, found[gap], attribute) for gap in GAPS]
        if BIAS_DRIFT in found:
            out.append(finding(FAIRNESS, BIAS_DRIFT, found[BIAS_DRIFT], attribute))
        for group, metrics in found["groups"].items():
            out += [
                finding(FAIRNESS, metric, value, f"{attribute}={group}")
                for metric, value in metrics.items()
                if np.isfinite(value)
            ]
    if result.realized:
        out.append(finding(PERFORMANCE, LABELLED, float(result.labelled)))
        # A labelled window with no rise starting in it: a passing value for alert rules
        # (a shift found in it, now or later, is recorded as 1 and, being newer, wins).
        out.append(finding(CONCEPT, SHIFT_STARTED, 0.0))
    for key, figure in result.realized.items():
        metric, _, piece = key.partition("@")  # "roc_auc@carrier=UA": a slice's figure
        for suffix, value in (("", figure.value), (".low", figure.low), (".high", figure.high)):
            if np.isfinite(value):
                out.append(finding(PERFORMANCE, metric + suffix, value, piece or None))
    return out


def _versus_registration(
    registered: dict[str, Any] | None,
    estimated: dict[str, float],
    figures: dict[str, Figure],
) -> dict[str, float]:
    """Per monitor (the estimate, the realized figure), whether its interval lies wholly
    on the worse side of the registration's interval of the same metric."""
    if not registered:
        return {}
    metric = registered["metric"]
    higher_is_better = metric != "rmse"
    ranges = {}
    if metric in estimated:
        ranges[ESTIMATE] = (estimated.get(f"{metric}.low"), estimated.get(f"{metric}.high"))
    if metric in figures:
        ranges[PERFORMANCE] = (figures[metric].low, figures[metric].high)
    out = {}
    for monitor, (low, high) in ranges.items():
        if low is None or high is None or not np.isfinite([low, high]).all():
            continue
        worse = high < registered["low"] if higher_is_better else low > registered["high"]
        out[monitor] = float(worse)
    return out


def _quality_findings(quality: Quality, finding: Callable[..., Finding]) -> list[Finding]:
    total = max(1, quality.rows)
    out = [finding(QUALITY, REJECTED_SHARE, quality.rejected_share)]
    out += [finding(QUALITY, REJECTED_BY_REASON, n / total, r) for r, n in quality.reasons.items()]
    out += [finding(QUALITY, MISSING_SHARE, v, f) for f, v in quality.missing.items()]
    out += [finding(QUALITY, OUT_OF_RANGE, v, f) for f, v in quality.out_of_range.items()]
    out += [finding(QUALITY, UNSEEN_SHARE, v, f) for f, v in quality.unseen_share.items()]
    for feature, categories in quality.unseen.items():
        out += [finding(QUALITY, UNSEEN, share, f"{feature}={c}") for c, share in categories]
    return out


def _concept_findings(name: str, shift: ConceptShift, now: datetime) -> list[Finding]:
    common = {
        "monitor": CONCEPT,
        "model_name": name,
        "model_version": shift.version,
        "window_start": shift.start,
        "window_end": shift.end,
        "created_at": now,
    }
    figures = {"error_before": shift.before, "error_after": shift.after, SHIFT_STARTED: 1.0}
    # A rise from the first labelled row has no "before".
    return [
        Finding(metric=metric, value=value, **common)  # type: ignore[arg-type]
        for metric, value in figures.items()
        if np.isfinite(value)
    ]


def _utc(value: datetime) -> datetime:
    return pd.Timestamp(value).tz_convert("UTC").to_pydatetime()


__all__ = ["PREDICTION", "ConceptShift", "MonitorRun", "WindowResult", "monitor_traffic"]
