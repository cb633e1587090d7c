"""Plain records the metadata store takes and returns (no ORM objects leak out)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class SnapshotRecord:
    """An accepted, immutable batch of a source; `id` is the SHA-256 of its content."""

    id: str
    source: str
    created_at: datetime
    num_rows: int
    num_columns: int
    uri: str
    quarantined_rows: int = 0
    quarantine_uri: str | None = None
    profile: dict[str, Any] = field(default_factory=dict)
    contract_version: str | None = None
    parents: list[str] = field(default_factory=list)
    lineage: dict[str, Any] = field(default_factory=dict)  # source, contract, batch, warnings


@dataclass(frozen=True)
class IngestionRecord:
    """One read of a source: which snapshot it gave, what it rejected, and its report."""

    batch_id: str
    snapshot_id: str
    source: str
    contract_version: str
    created_at: datetime
    rows: int
    rejected: int
    fingerprint: str | None = None  # of the input, so unchanged input is recognised unread
    quarantine_uri: str | None = None
    report: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Finding:
    """One monitoring result: a metric of a model over a time window."""

    monitor: str
    model_name: str
    model_version: str
    window_start: datetime
    window_end: datetime
    metric: str
    value: float
    created_at: datetime
    feature: str | None = None
    id: int | None = None


@dataclass(frozen=True)
class Label:
    """The realized outcome of one logged prediction: row `row` of request `request_id`."""

    request_id: str
    label: float
    row: int = 0
    received_at: datetime | None = None  # set by the store when it is written


@dataclass(frozen=True)
class Override:
    """A person's decision replacing the model's for row `row` of request `request_id`
    (`model_decision`: what the model had answered), with who and why."""

    model: str
    request_id: str
    row: int
    decision: float
    model_decision: float | None
    actor: str
    reason: str
    at: datetime


@dataclass(frozen=True)
class Alert:
    """A rule breached by a model's findings: open ("firing") until a window passes it,
    one per rule, model and subject (the feature or metric), however many windows breach."""

    rule: str
    model_name: str
    subject: str
    status: str  # "firing" or "resolved"
    first_window_end: datetime
    last_window_end: datetime
    value: float
    detail: dict[str, Any] = field(default_factory=dict)  # threshold, drivers, windows
    notified_at: datetime | None = None
    resolved_at: datetime | None = None
    id: int | None = None


@dataclass(frozen=True)
class PolicyChange:
    """One change of a deployment's traffic policy: the policy from then on (a plain dict;
    `serve.policy.Policy` reads it), who made the change, what it was and why, and the
    figures an automatic decision was made on. The newest is the deployment's state."""

    deployment: str
    revision: int  # 1 for the change that created it, then one more per change
    policy: dict[str, Any]
    actor: str  # a person's name, or "analysis"
    action: str  # create, advance, hold, promote, rollback, pause, resume, …
    reason: str
    at: datetime
    figures: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class TokenRecord:
    """An API token as stored: never its secret, only the secret's SHA-256."""

    id: str
    secret_hash: str
    role: str
    model: str | None  # None: every model
    name: str
    created_by: str
    created_at: datetime
    expires_at: datetime | None = None
    revoked_at: datetime | None = None


@dataclass(frozen=True)
class AuditEvent:
    """One write someone (or something) made: who, what, on what, when, why, the figures
    it rested on; `seq`, `prev_hash` and `hash` place it in the tamper-evident chain
    (`govern.audit`), and are set when it is appended."""

    actor: str
    action: str
    target: str
    at: datetime
    reason: str = ""
    figures: dict[str, Any] = field(default_factory=dict)
    seq: int = 0
    prev_hash: str = ""
    hash: str = ""


@dataclass(frozen=True)
class Decision:
    """One decision continuous training made about a model (`automate.controller`): its
    `kind` (evaluated, skipped, retraining, retrained, failed, rollout, advance, promote,
    rollback, policy), why, the figures it rested on, and the version it concerned."""

    model_name: str
    at: datetime
    kind: str
    reason: str
    figures: dict[str, Any] = field(default_factory=dict)
    version: str | None = None
    actor: str = "controller"
    id: int | None = None
