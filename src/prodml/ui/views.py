"""What each page shows, read from the workspace (the same services the CLI uses), as
plain data the templates lay out."""

from __future__ import annotations

import json
from collections import Counter, deque
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from prodml.govern.audit import Verdict
from prodml.registry import ModelVersionInfo
from prodml.registry.registry import ARCHIVED_TAG, EXCEPTION_TAG, FAIRNESS_TAG
from prodml.serve.policy import Policy
from prodml.store import AuditEvent, Decision, Override, PolicyChange, SnapshotRecord
from prodml.train.tracking import FEATURE_SERVICE_TAG
from prodml.workspace import Workspace

_SNAPSHOT_TAG = "prodml.snapshot."  # + input name: the snapshot a version trained on


@dataclass(frozen=True)
class VersionRow:
    """One registered version as the model page lists it."""

    version: str
    aliases: tuple[str, ...]
    created_at: str
    gate: str  # "passed", "failed" or "" (registered without a gate)
    metric: str
    snapshots: dict[str, str] = field(default_factory=dict)
    feature_service: str = ""
    archived: bool = False
    fairness_blocked: bool = False  # the fairness check failed and no one granted an exception


@dataclass(frozen=True)
class ModelSummary:
    """One model on the models page: its versions and where its aliases point."""

    name: str
    versions: list[VersionRow]

    @property
    def aliases(self) -> dict[str, str]:
        return {a: v.version for v in self.versions for a in v.aliases}


def models(ws: Workspace) -> list[ModelSummary]:
    """Every registered model, newest version first, by name."""
    by_model: dict[str, list[VersionRow]] = {}
    for info in ws.registry.list_versions():
        by_model.setdefault(info.name, []).append(_row(info))
    return [
        ModelSummary(name, sorted(rows, key=lambda r: int(r.version), reverse=True))
        for name, rows in sorted(by_model.items())
    ]


def model(ws: Workspace, name: str) -> ModelSummary | None:
    """Model `name`, or None when nothing of that name is registered."""
    return next((m for m in models(ws) if m.name == name), None)


def _row(info: ModelVersionInfo) -> VersionRow:
    gate = json.loads(info.tags.get("prodml.gate", "{}"))
    verdict = "" if not gate else ("passed" if gate.get("passed") else "failed")
    metric = _headline(gate)
    return VersionRow(
        version=info.version,
        aliases=tuple(sorted(info.aliases)),
        created_at=info.created_at[:16].replace("T", " "),
        gate=verdict,
        metric=metric,
        snapshots={
            k.removeprefix(_SNAPSHOT_TAG): v
            for k, v in info.tags.items()
            if k.startswith(_SNAPSHOT_TAG)
        },
        feature_service=info.tags.get(FEATURE_SERVICE_TAG, ""),
        archived=ARCHIVED_TAG in info.tags,
        fairness_blocked=(
            not json.loads(info.tags.get(FAIRNESS_TAG, "{}")).get("passed", True)
            and EXCEPTION_TAG not in info.tags
        ),
    )


def _headline(gate: dict[str, Any]) -> str:
    """The gate's figure against the champion, else against the first baseline."""
    comparisons = gate.get("comparisons") or []
    if not comparisons:
        return ""
    best = next((c for c in comparisons if c.get("role") == "champion"), comparisons[0])
    return f"{best['improvement']:+.4f} {gate.get('metric', '')} over {best['against']}"


@dataclass(frozen=True)
class DeploymentView:
    """A deployment: its policy now, every change of it (newest first), and the revision a
    form must name so an action on a page gone stale is refused."""

    name: str
    policy: Policy
    changes: list[PolicyChange]

    @property
    def revision(self) -> int:
        return self.changes[0].revision

    @property
    def in_rollout(self) -> bool:
        return self.policy.kind != "single" and not self.policy.stopped

    @property
    def judged(self) -> bool:
        """Whether an analysis has judged any of its rollouts (so there are checks to draw)."""
        return any(c.figures.get("checks") for c in self.changes)


def deployments(ws: Workspace) -> list[PolicyChange]:
    """Every deployment's newest change, by name."""
    return sorted(ws.metadata.list_deployments(), key=lambda c: c.deployment)


def deployment(ws: Workspace, name: str) -> DeploymentView | None:
    """Deployment `name`, or None when there is none of that name."""
    changes = ws.metadata.deployment_history(name)
    if not changes:
        return None
    return DeploymentView(name, Policy.model_validate(changes[-1].policy), changes[::-1])


def shares(changes: list[PolicyChange]) -> dict[str, list[tuple[datetime, float]]]:
    """Each version's share of the traffic after each change, oldest first (a shadow's is
    0: it answers no one)."""
    series: dict[str, list[tuple[datetime, float]]] = {}
    for change in sorted(changes, key=lambda c: c.revision):
        policy = Policy.model_validate(change.policy)
        weights = {a.version: 0.0 if a in policy.shadows else a.weight for a in policy.arms}
        if policy.stopped:
            weights = dict.fromkeys(weights, 0.0)
        for version in series.keys() | weights.keys():
            series.setdefault(version, []).append((change.at, weights.get(version, 0.0)))
    return series


def decisions(ws: Workspace, model: str, limit: int = 500) -> list[Decision]:
    """Continuous training's newest `limit` decisions about `model`, newest first."""
    return ws.metadata.list_decisions(model, limit=limit)[::-1]


@dataclass(frozen=True)
class AuditPage:
    """The newest events matching the filters (older than `before`, when paging), how
    many matched in all, and the chain's verdict."""

    events: list[AuditEvent]
    matched: int
    verdict: Verdict
    skipped: int = 0  # matching events newer than this page

    @property
    def older(self) -> int | None:
        """The `before` of the next page back, or None when this page reaches the first
        matching event."""
        shown_from = self.matched - self.skipped - len(self.events)
        return self.events[-1].seq if self.events and shown_from > 0 else None


def audit(
    ws: Workspace,
    *,
    actor: str = "",
    action: str = "",
    target: str = "",
    before: int | None = None,
    limit: int = 200,
) -> AuditPage:
    """The audit log's newest `limit` events by `actor`, of `action` (a prefix: "rollout."),
    about `target` (any part of it) and, when given, numbered below `before`; newest first."""
    newest: deque[AuditEvent] = deque(maxlen=limit)
    matched = skipped = 0
    for event in ws.audit.events():
        if (
            (not actor or event.actor == actor)
            and event.action.startswith(action)
            and target.lower() in event.target.lower()
        ):
            matched += 1
            if before is not None and event.seq >= before:
                skipped += 1
            else:
                newest.append(event)
    return AuditPage(list(reversed(newest)), matched, ws.audit.verify(), skipped)


@dataclass(frozen=True)
class SnapshotRow:
    """A snapshot and what its ingestions found: each check that failed, on which column,
    of what severity (an error quarantines the row), how many times."""

    record: SnapshotRecord
    reasons: dict[str, int]


def snapshots(ws: Workspace) -> list[SnapshotRow]:
    """Every snapshot, newest first, with its quarantine's reasons counted."""
    reasons: dict[str, Counter[str]] = {}
    for ingestion in ws.metadata.list_ingestions():
        found = reasons.setdefault(ingestion.snapshot_id, Counter())
        for violation in ingestion.report.get("violations", []):
            where = f"{violation['column']}: " if violation.get("column") else ""
            found[f"{where}{violation['check']} ({violation['severity']})"] += violation["count"]
    return [
        SnapshotRow(s, dict(reasons.get(s.id, Counter()).most_common()))
        for s in sorted(ws.metadata.list_snapshots(), key=lambda s: s.created_at, reverse=True)
    ]


@dataclass(frozen=True)
class RequestView:
    """One logged request of a model: each row it answered (what the model said, which
    version and arm) and the overrides people made of them, by row."""

    request_id: str
    answered: list[dict[str, Any]]
    refused: list[dict[str, Any]]
    overrides: dict[int, Override]

    @property
    def classifier(self) -> bool:
        return any("label" in r for r in self.answered)


def request(ws: Workspace, model: str, request_id: str) -> RequestView:
    """What `model`'s prediction log holds of `request_id` (empty when nothing does)."""
    logged = ws.prediction_log(model).find(request_id)
    answered = [r for r in logged if "rejected" not in r and not r.get("shadow")]
    refused = [r for r in logged if "rejected" in r]
    overrides = {o.row: o for o in ws.metadata.list_overrides(model, request_id)}
    return RequestView(request_id, answered, refused, overrides)
