"""Alert rules over findings: a threshold held for N windows in a row opens an alert, one
per rule, model and subject (the feature, segment, or the model itself), however many
windows breach; the first window that passes resolves it. A firing alert is notified when
it opens and again, while it still fires, no more often than its rule's cool-down.

The state is recomputed from the findings each run (they are the truth) and reconciled
with the alerts already stored, keyed by the window each episode began in: so a run that
is repeated notifies nothing twice.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from prodml.monitor.compare import STATISTICS
from prodml.monitor.notify import Notifier
from prodml.settings import AlertRule
from prodml.store import Alert, Finding, MetadataStore

FIRING, RESOLVED = "firing", "resolved"
_HEADLINE = ("roc_auc", "rmse")  # the metric a drop below registration is judged on


@dataclass(frozen=True)
class AlertEvent:
    alert: Alert
    event: str  # "firing", "still firing", "resolved", or "fired and resolved"
    delivered: bool


def evaluate_alerts(
    name: str,
    rules: Sequence[AlertRule],
    metadata: MetadataStore,
    notifier: Notifier,
    *,
    now: datetime,
) -> list[AlertEvent]:
    """Bring model `name`'s alerts up to date with its findings; notify what changed.

    Each version's windows are a series of their own (two versions live at once, as in a
    canary, do not interleave). A stored alert whose episode no longer holds (labels
    came in and the figure was re-measured above the bound) is resolved. A notice that
    could not be delivered is tried again on the next run."""
    findings = metadata.list_findings(model_name=name)
    drivers = _drifted_by_window(findings)
    statistics = _drift_statistics(findings)
    quality = _quality_details(findings)
    headline = _headline_figures(findings)
    stored = {_key(a): a for a in metadata.list_alerts(model_name=name)}
    matched: set[tuple[str, str, str, datetime]] = set()
    events = []
    for rule in rules:
        for (subject, version), series in _series(findings, rule).items():
            for first, last, value, breaching, ended in _episodes(series, rule):
                key = (rule.name, subject, version, first)
                matched.add(key)
                known = stored.get(key)
                alert = Alert(
                    rule=rule.name,
                    model_name=name,
                    subject=subject,
                    status=RESOLVED if ended else FIRING,
                    first_window_end=first,
                    last_window_end=last,
                    value=value,
                    detail={
                        "version": version,
                        "monitor": rule.monitor,
                        "metric": rule.metric,
                        "above": rule.above,
                        "below": rule.below,
                        "breaching": breaching,
                        "drivers": drivers.get((version, last), []),
                        **statistics.get((version, last, subject), {}),
                        **quality.get((version, last, subject), {}),
                        **headline.get((version, last, rule.monitor), {}),
                    },
                    notified_at=known.notified_at if known else None,
                    resolved_at=((known and known.resolved_at) or now) if ended else None,
                    id=known.id if known else None,
                )
                event = _event(known, alert, rule, now)
                if known is not None and event is None and _same(known, alert):
                    continue
                events += _saved(alert, event, metadata, notifier, now)
    rules_now = {rule.name for rule in rules}
    for key, alert in stored.items():  # episodes that no longer hold
        if alert.status == FIRING and key not in matched and alert.rule in rules_now:
            gone = replace(alert, status=RESOLVED, resolved_at=now)
            events += _saved(gone, RESOLVED, metadata, notifier, now)
    return events


def _saved(
    alert: Alert, event: str | None, metadata: MetadataStore, notifier: Notifier, now: datetime
) -> list[AlertEvent]:
    """Store `alert`, after announcing `event` if there is one; a notice not delivered
    leaves `notified_at` as it was, so the next run tries again."""
    out = []
    if event is not None:
        delivered = notifier.send(alert, event)
        if delivered:
            alert = replace(alert, notified_at=now)
        out.append(AlertEvent(alert, event, delivered))
    metadata.save_alert(alert)
    return out


def _key(alert: Alert) -> tuple[str, str, str, datetime]:
    return (alert.rule, alert.subject, str(alert.detail.get("version", "")), alert.first_window_end)


def _series(
    findings: list[Finding], rule: AlertRule
) -> dict[tuple[str, str], list[tuple[datetime, float]]]:
    """Per subject and version, the rule's metric per window in window order (the newest
    finding of a window wins: performance is re-measured as labels arrive)."""
    latest: dict[tuple[str, str, datetime], Finding] = {}
    for f in findings:
        if f.monitor != rule.monitor or f.metric != rule.metric:
            continue
        if rule.feature is not None and f.feature != rule.feature:
            continue
        key = (f.feature or "", f.model_version, f.window_end)
        if key not in latest or f.created_at >= latest[key].created_at:
            latest[key] = f
    out: dict[tuple[str, str], list[tuple[datetime, float]]] = defaultdict(list)
    for (subject, version, end), f in sorted(latest.items(), key=lambda kv: kv[0][2]):
        out[subject, version].append((end, f.value))
    return out


def _episodes(
    series: list[tuple[datetime, float]], rule: AlertRule
) -> list[tuple[datetime, datetime, float, int, bool]]:
    """(first window end, last window end, last value, windows breaching, ended) for each
    run of `rule.windows` or more breaching windows."""
    out, run = [], []
    for end, value in series:
        breached = value > rule.above if rule.above is not None else value < rule.below  # type: ignore[operator]
        if breached:
            run.append((end, value))
            continue
        if len(run) >= rule.windows:
            out.append((run[rule.windows - 1][0], run[-1][0], run[-1][1], len(run), True))
        run = []
    if len(run) >= rule.windows:
        out.append((run[rule.windows - 1][0], run[-1][0], run[-1][1], len(run), False))
    return out


def _event(known: Alert | None, alert: Alert, rule: AlertRule, now: datetime) -> str | None:
    if known is None:  # a new episode; it may have begun and ended since the last run
        return FIRING if alert.status == FIRING else "fired and resolved"
    if alert.status == FIRING and known.notified_at is None:
        return FIRING  # its first notice was not delivered: try again
    if alert.status == RESOLVED and known.status == FIRING:
        return RESOLVED
    if alert.status == FIRING and alert.last_window_end > known.last_window_end:
        cooled = known.notified_at is None or now - known.notified_at >= timedelta(
            hours=rule.cooldown_hours
        )
        return "still firing" if cooled else None
    return None


def _same(a: Alert, b: Alert) -> bool:
    return (a.status, a.last_window_end, a.value) == (b.status, b.last_window_end, b.value)


def _drift_statistics(
    findings: list[Finding],
) -> dict[tuple[str, datetime, str], dict[str, float | str]]:
    """Per version, window and feature, the drift statistic that decided (its method and
    value): what a drift alert's sentence quotes."""
    return {
        (f.model_version, f.window_end, f.feature or ""): {"method": f.metric, "statistic": f.value}
        for f in findings
        if f.monitor == "drift" and f.metric in STATISTICS
    }


def _headline_figures(findings: list[Finding]) -> dict[tuple[str, datetime, str], dict[str, Any]]:
    """Per version, window and monitor (estimate, performance), the headline metric with
    its interval, the newest of each: what an alert on a drop below registration quotes."""
    figures: dict[tuple[str, datetime, str], dict[str, Any]] = defaultdict(dict)
    for f in sorted(findings, key=lambda f: f.created_at):
        metric, _, bound = f.metric.partition(".")
        if f.monitor in ("estimate", "performance") and not f.feature and metric in _HEADLINE:
            figures[f.model_version, f.window_end, f.monitor] |= {
                "metric": metric,
                bound or "value": f.value,
            }
    return {key: {"figure": figure} for key, figure in figures.items()}


def _quality_details(
    findings: list[Finding],
) -> dict[tuple[str, datetime, str], dict[str, list[list[str | float]]]]:
    """Per version, window and subject, what a quality alert's sentence names: the model's
    most common refusal reasons, a feature's most common never-seen categories."""
    out: dict[tuple[str, datetime, str], dict[str, list[list[str | float]]]] = defaultdict(dict)
    for f in sorted(findings, key=lambda f: -f.value):
        if f.monitor != "quality" or not f.feature:
            continue
        if f.metric == "rejected_by_reason":
            key, entry, name = (f.model_version, f.window_end, ""), "reasons", f.feature
        elif f.metric == "unseen_category":
            feature, _, name = f.feature.partition("=")
            key, entry = (f.model_version, f.window_end, feature), "unseen"
        else:
            continue
        out[key].setdefault(entry, []).append([name, f.value])
    return out


def _drifted_by_window(findings: list[Finding]) -> dict[tuple[str, datetime], list[str]]:
    """The features that drifted in each version's window, most drifted first: the
    drivers an alert names."""
    flagged = {
        (f.model_version, f.window_end, f.feature)
        for f in findings
        if f.monitor == "drift" and f.metric == "drifted" and f.value > 0.5
    }
    statistic = {
        (f.model_version, f.window_end, f.feature): f.value
        for f in findings
        if f.monitor == "drift" and f.metric in STATISTICS
    }
    out: dict[tuple[str, datetime], list[str]] = defaultdict(list)
    for version, end, feature in sorted(flagged, key=lambda k: -statistic.get(k, 0.0)):
        out[version, end].append(str(feature))
    return out
