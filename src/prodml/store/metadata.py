"""The metadata database: one SQLAlchemy code path for SQLite (default) and PostgreSQL.

Opening a store applies any pending Alembic migration, so a workspace is always at the
schema this prodml expects; a workspace written by a newer prodml is refused, not altered.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import threading
import uuid
from collections.abc import Callable, Collection, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import (
    Connection,
    Engine,
    Text,
    cast,
    create_engine,
    delete,
    event,
    func,
    inspect,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import make_url
from sqlalchemy.exc import (
    ArgumentError,
    DBAPIError,
    IntegrityError,
    OperationalError,
    ProgrammingError,
    SQLAlchemyError,
)
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.sql import Select

from prodml.errors import (
    ConfigError,
    DataValidationError,
    NotFoundError,
    SchemaVersionError,
    StateError,
    StoreUnavailableError,
)
from prodml.store.models import (
    AlertRow,
    AuditEventRow,
    DecisionRow,
    DeploymentEventRow,
    DeploymentRow,
    FeatureDefinitionRow,
    FindingRow,
    IngestionRow,
    LabelRow,
    LeaseRow,
    OverrideRow,
    SnapshotRow,
    TokenRow,
)
from prodml.store.records import (
    Alert,
    AuditEvent,
    Decision,
    Finding,
    IngestionRecord,
    Label,
    Override,
    PolicyChange,
    SnapshotRecord,
    TokenRecord,
)

_MIGRATIONS = Path(__file__).parent / "migrations"
# The newest migration. Opening a database already there skips Alembic (and its import,
# a quarter of a second); tests/store checks this against the migration scripts.
SCHEMA_HEAD = "0010"
MIN_PREFIX = 4  # shortest snapshot id prefix accepted, as git asks for a few characters
_LABEL_CHUNK = 5_000  # rows per INSERT: under SQLite's 32,766 bound parameters
_DRIVER_EXTRAS = {"postgresql": "postgres"}
# Serialises concurrent first opens of one PostgreSQL database (any constant will do).
_PG_MIGRATION_LOCK = 0x70726F646D6C
_PG_AUDIT_LOCK = 0x70726F646D61  # serialises audit appenders
_AUDIT_RETRIES = 50
AUDIT_GENESIS = "0" * 64  # the link of the first audit event


def this_process() -> str:
    """A lease holder's name unique to this process: host and process id."""
    return f"{socket.gethostname()}-{os.getpid()}"


class MetadataStore:
    """Snapshots, ingestions, feature definitions, findings, labels and alerts, stored in
    the database at `url`.

    >>> store = MetadataStore("sqlite:///:memory:")
    >>> store.list_snapshots()
    []
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self._engine = _create_engine(url)
        try:
            _migrate(self._engine)
        except DBAPIError as exc:
            self._engine.dispose()
            problem = (
                "Cannot reach the metadata database"
                if isinstance(exc, OperationalError)
                else "Cannot use the metadata database (is it a prodml database?)"
            )
            raise StoreUnavailableError(
                f"{problem} at {_redact(url)}: {_first_line(exc)}. Check that the server is "
                "running and that `metadata_url` in prodml.yaml (or PRODML_METADATA_URL) "
                "is right."
            ) from exc
        except BaseException:
            self._engine.dispose()
            raise
        self._sessions = sessionmaker(self._engine, expire_on_commit=False)

    @property
    def schema_revision(self) -> str:
        with self._engine.connect() as conn:
            return ",".join(_current_revisions(conn))

    def close(self) -> None:
        self._engine.dispose()

    # -- snapshots ---------------------------------------------------------------------

    def add_snapshot(self, snapshot: SnapshotRecord) -> bool:
        """Record `snapshot`; returns False (and changes nothing) if its id is known."""
        row = _snapshot_row(snapshot)
        try:
            with self._session() as session:
                session.add(row)
        except IntegrityError:  # the id exists, perhaps written a moment ago by another process
            return False
        return True

    def find_snapshot(self, snapshot_id: str) -> SnapshotRecord | None:
        """The snapshot with exactly this id, or None."""
        with self._session() as session:
            row = session.get(SnapshotRow, snapshot_id)
            return None if row is None else _snapshot(row)

    def record_ingestion(
        self, ingestion: IngestionRecord, snapshot: SnapshotRecord | None = None
    ) -> bool:
        """Record an ingestion, and the new snapshot it made if any, in one transaction.

        Returns whether the snapshot was new (False if another writer recorded the same
        content first, or if none was given).
        """
        row = IngestionRow(**{**asdict(ingestion), "created_at": _to_utc(ingestion.created_at)})
        created = False
        with self._session() as session:
            if snapshot is not None and session.get(SnapshotRow, snapshot.id) is None:
                session.add(_snapshot_row(snapshot))
                session.flush()
                created = True
            session.add(row)
        return created

    def list_ingestions(self, snapshot_id: str | None = None) -> list[IngestionRecord]:
        """Ingestions, newest first; only those that gave `snapshot_id` if given."""
        query = select(IngestionRow).order_by(IngestionRow.created_at.desc())
        if snapshot_id is not None:
            query = query.where(IngestionRow.snapshot_id == snapshot_id)
        with self._session() as session:
            return [_ingestion(row) for row in session.scalars(query)]

    def feature_definitions(self, kind: str) -> dict[str, tuple[str, dict[str, Any]]]:
        """Applied definitions of `kind` ("view" or "service"): name -> (version, body)."""
        query = select(FeatureDefinitionRow).where(FeatureDefinitionRow.kind == kind)
        with self._session() as session:
            return {r.name: (r.version, dict(r.definition)) for r in session.scalars(query)}

    def apply_feature_definitions(
        self, kind: str, definitions: dict[str, tuple[str, dict[str, Any]]], applied_at: datetime
    ) -> None:
        """Record each (version, body) under its name, replacing an older version."""
        with self._session() as session:
            for name, (version, body) in definitions.items():
                session.merge(
                    FeatureDefinitionRow(
                        kind=kind,
                        name=name,
                        version=version,
                        definition=body,
                        applied_at=_to_utc(applied_at),
                    )
                )

    def find_by_fingerprint(self, fingerprint: str, contract_version: str) -> SnapshotRecord | None:
        """The snapshot last made from exactly this input under this contract, if any."""
        query = (
            select(IngestionRow.snapshot_id)
            .where(IngestionRow.fingerprint == fingerprint)
            .where(IngestionRow.contract_version == contract_version)
            .order_by(IngestionRow.created_at.desc())
            .limit(1)
        )
        with self._session() as session:
            snapshot_id = session.scalars(query).first()
        return None if snapshot_id is None else self.find_snapshot(snapshot_id)

    def get_snapshot(self, snapshot_id: str) -> SnapshotRecord:
        """The snapshot with this id, or with this unique id prefix (like git)."""
        if len(snapshot_id) < MIN_PREFIX:
            raise NotFoundError(
                f"Snapshot id '{snapshot_id}' is too short: give at least {MIN_PREFIX} "
                "characters. Run `prodml status` to list snapshots."
            )
        with self._session() as session:
            rows = session.scalars(
                select(SnapshotRow)
                .where(SnapshotRow.id.startswith(snapshot_id, autoescape=True))
                .limit(2)
            ).all()
        if len(rows) != 1:
            problem = "matches several snapshots" if rows else "matches no snapshot"
            raise NotFoundError(
                f"Snapshot id '{snapshot_id}' {problem}. Run `prodml status` to list snapshots."
            )
        return _snapshot(rows[0])

    def list_snapshots(self) -> list[SnapshotRecord]:
        """All snapshots, newest first."""
        with self._session() as session:
            rows = session.scalars(select(SnapshotRow).order_by(SnapshotRow.created_at.desc()))
            return [_snapshot(row) for row in rows]

    # -- findings ----------------------------------------------------------------------

    def add_findings(self, findings: Iterable[Finding]) -> int:
        """Append findings in one transaction; returns how many were written."""
        times = ("window_start", "window_end", "created_at")
        rows = [
            FindingRow(
                **{k: _to_utc(v) if k in times else v for k, v in asdict(f).items() if k != "id"}
            )
            for f in findings
        ]
        with self._session() as session:
            session.add_all(rows)
        return len(rows)

    def list_findings(
        self, *, monitor: str | None = None, model_name: str | None = None
    ) -> list[Finding]:
        """Findings in window order, optionally only of one monitor or model."""
        query = select(FindingRow).order_by(FindingRow.window_start, FindingRow.id)
        if monitor is not None:
            query = query.where(FindingRow.monitor == monitor)
        if model_name is not None:
            query = query.where(FindingRow.model_name == model_name)
        with self._session() as session:
            return [_finding(row) for row in session.scalars(query)]

    # -- labels ------------------------------------------------------------------------

    def add_labels(self, model_name: str, labels: Iterable[Label], *, received_at: datetime) -> int:
        """Record the realized outcome of logged predictions; a second label for the same
        prediction replaces the first (a correction; within one call, the last wins).
        Returns how many predictions got a label."""
        latest: dict[tuple[str, int], float] = {}
        for label in labels:
            if "\x00" in label.request_id:  # PostgreSQL text cannot hold it
                raise DataValidationError(
                    f"Request id {label.request_id!r} holds a NUL character; no prediction "
                    "is answered under such an id."
                )
            latest[label.request_id, label.row] = float(label.label)
        at = _to_utc(received_at)
        rows = [
            {"model_name": model_name, "request_id": r, "row": i, "label": y, "received_at": at}
            for (r, i), y in latest.items()
        ]
        dialect = self._engine.dialect.name
        upsert: Any = pg_insert if dialect == "postgresql" else sqlite_insert
        with self._session() as session:
            for start in range(0, len(rows), _LABEL_CHUNK):
                statement = upsert(LabelRow).values(rows[start : start + _LABEL_CHUNK])
                session.execute(
                    statement.on_conflict_do_update(
                        index_elements=["model_name", "request_id", "row"],
                        set_={
                            "label": statement.excluded.label,
                            "received_at": statement.excluded.received_at,
                        },
                    )
                )
        return len(rows)

    def list_labels(self, model_name: str, *, since: datetime | None = None) -> list[Label]:
        """Every label recorded for `model_name` (received at or after `since`, if given)."""
        query = select(LabelRow.request_id, LabelRow.row, LabelRow.label, LabelRow.received_at)
        query = query.where(LabelRow.model_name == model_name)
        if since is not None:
            query = query.where(LabelRow.received_at >= _to_utc(since))
        with self._session() as session:
            result = session.execute(query)
            return [Label(r, label, row, _utc(at)) for r, row, label, at in result]

    def count_labels(self, model_name: str, *, after: datetime | None = None) -> int:
        """How many labels of `model_name` were recorded (after `after`, if given)."""
        query = select(func.count()).select_from(LabelRow).where(LabelRow.model_name == model_name)
        if after is not None:
            query = query.where(LabelRow.received_at > _to_utc(after))
        with self._session() as session:
            return int(session.scalar(query) or 0)

    def forget_requests(self, model_name: str, request_ids: Iterable[str]) -> dict[str, int]:
        """Delete the labels and overrides of `model_name` under `request_ids` (an erased
        person's); how many of each."""
        ids = sorted(set(request_ids))
        counts = {"labels": 0, "overrides": 0}
        with self._session() as session:
            for start in range(0, len(ids), 1000):  # under every database's parameter limit
                chunk = ids[start : start + 1000]
                for kind, table in (("labels", LabelRow), ("overrides", OverrideRow)):
                    done = session.execute(
                        delete(table).where(
                            table.model_name == model_name, table.request_id.in_(chunk)
                        )
                    )
                    counts[kind] += int(getattr(done, "rowcount", 0) or 0)
        return counts

    def add_override(self, override: Override) -> None:
        """Record a person's decision for one logged row; a later one for the same row
        replaces it (the audit log keeps both)."""
        values = {
            "model_name": override.model,
            "request_id": override.request_id,
            "row": override.row,
            "decision": override.decision,
            "model_decision": override.model_decision,
            "actor": override.actor,
            "reason": override.reason,
            "at": _to_utc(override.at),
        }
        upsert: Any = pg_insert if self._engine.dialect.name == "postgresql" else sqlite_insert
        statement = upsert(OverrideRow).values(values)
        kept = ("decision", "model_decision", "actor", "reason", "at")
        with self._session() as session:
            session.execute(
                statement.on_conflict_do_update(
                    index_elements=["model_name", "request_id", "row"],
                    set_={k: statement.excluded[k] for k in kept},
                )
            )

    def list_overrides(self, model_name: str, request_id: str | None = None) -> list[Override]:
        """Every row of `model_name` (of one request, if given) whose decision a person
        replaced, oldest first."""
        query = select(OverrideRow).where(OverrideRow.model_name == model_name)
        if request_id is not None:  # the primary key's prefix: an index lookup
            query = query.where(OverrideRow.request_id == request_id)
        with self._session() as session:
            return [
                Override(
                    r.model_name,
                    r.request_id,
                    r.row,
                    r.decision,
                    r.model_decision,
                    r.actor,
                    r.reason,
                    _utc(r.at),
                )
                for r in session.scalars(query.order_by(OverrideRow.at))
            ]

    def forget_monitoring(self, model_name: str) -> None:
        """Delete a model's findings, labels and alerts (a replay that starts over)."""
        with self._session() as session:
            for table in (FindingRow, LabelRow, AlertRow):
                session.execute(delete(table).where(table.model_name == model_name))

    # -- alerts ------------------------------------------------------------------------

    def save_alert(self, alert: Alert) -> Alert:
        """Insert a new alert (no id) or update the one with `alert.id`; returns it with its id."""
        times = ("first_window_end", "last_window_end", "notified_at", "resolved_at")
        values = {k: _to_utc(v) if k in times and v else v for k, v in asdict(alert).items()}
        with self._session() as session:
            row = AlertRow(**values) if alert.id is None else session.get(AlertRow, alert.id)
            if row is None:
                raise NotFoundError(f"No alert with id {alert.id} to update.")
            for key, value in values.items():
                if key != "id":
                    setattr(row, key, value)
            session.add(row)
            session.flush()
            return _alert(row)

    def list_alerts(
        self, *, model_name: str | None = None, status: str | None = None
    ) -> list[Alert]:
        """Alerts, most recently breached first, optionally of one model or status."""
        query = select(AlertRow).order_by(AlertRow.last_window_end.desc(), AlertRow.id.desc())
        if model_name is not None:
            query = query.where(AlertRow.model_name == model_name)
        if status is not None:
            query = query.where(AlertRow.status == status)
        with self._session() as session:
            return [_alert(row) for row in session.scalars(query)]

    # -- deployments -------------------------------------------------------------------

    def change_policy(self, change: PolicyChange) -> PolicyChange:
        """Record `change` as its deployment's state. Revision 1 creates the deployment;
        revision n + 1 is taken only while the deployment is at n, so a writer acting on
        stale state (a second analyser, a person meanwhile) is refused with `StateError`
        and must read the state again."""
        values = {**asdict(change), "at": _to_utc(change.at)}
        current = DeploymentRow(
            name=change.deployment,
            policy=change.policy,
            revision=change.revision,
            updated_at=values["at"],
        )
        stale = False
        try:
            with self._session() as session:
                if change.revision == 1:
                    session.add(current)
                    session.flush()
                else:
                    moved = session.execute(
                        update(DeploymentRow)
                        .where(DeploymentRow.name == change.deployment)
                        .where(DeploymentRow.revision == change.revision - 1)
                        .values(
                            policy=change.policy,
                            revision=change.revision,
                            updated_at=values["at"],
                        )
                    )
                    stale = moved.rowcount != 1  # type: ignore[attr-defined]
                if not stale:
                    session.add(DeploymentEventRow(**values))
        except IntegrityError:
            stale = True
        if stale:  # read once the writing transaction is over
            raise _stale(change, self.deployment(change.deployment))
        return change

    def forget_deployment(self, name: str) -> None:
        """Delete deployment `name` and its history (a demo replay that starts over)."""
        with self._session() as session:
            session.execute(delete(DeploymentEventRow).where(DeploymentEventRow.deployment == name))
            session.execute(delete(DeploymentRow).where(DeploymentRow.name == name))

    def deployment(self, name: str) -> PolicyChange | None:
        """Deployment `name`'s current state (its newest change), or None."""
        query = _current_changes().where(DeploymentRow.name == name)
        with self._session() as session:
            row = session.scalars(query).first()
            return None if row is None else _change(row)

    def list_deployments(self) -> list[PolicyChange]:
        """Every deployment's current state, by name."""
        query = _current_changes().order_by(DeploymentRow.name)
        with self._session() as session:
            return [_change(row) for row in session.scalars(query)]

    def deployment_history(self, name: str) -> list[PolicyChange]:
        """Every change of deployment `name`, oldest first."""
        query = (
            select(DeploymentEventRow)
            .where(DeploymentEventRow.deployment == name)
            .order_by(DeploymentEventRow.revision)
        )
        with self._session() as session:
            return [_change(row) for row in session.scalars(query)]

    # -- leases ------------------------------------------------------------------------

    def hold_lease(self, name: str, holder: str, seconds: float) -> bool:
        """Take or renew lease `name` for `seconds` as `holder`: True when `holder` holds
        it now, False while another holder's lease has not expired. Expiry is judged by
        the caller's clock, so replicas' clocks must agree to well within `seconds`."""
        now = datetime.now(UTC)
        until = now + timedelta(seconds=seconds)
        with self._session() as session:
            moved = session.execute(
                update(LeaseRow)
                .where(LeaseRow.name == name)
                .where(or_(LeaseRow.holder == holder, LeaseRow.expires_at < now))
                .values(holder=holder, expires_at=until)
            )
            if moved.rowcount == 1:  # type: ignore[attr-defined]
                return True
        try:
            with self._session() as session:
                session.add(LeaseRow(name=name, holder=holder, expires_at=until))
        except IntegrityError:  # held by another, or taken by one in between
            return False
        return True

    def live_leases(self, prefix: str) -> list[str]:
        """The names of the leases starting with `prefix` that have not expired."""
        query = (
            select(LeaseRow.name)
            .where(LeaseRow.name.startswith(prefix, autoescape=True))
            .where(LeaseRow.expires_at >= datetime.now(UTC))
        )
        with self._session() as session:
            return sorted(session.scalars(query))

    def release_lease(self, name: str, holder: str) -> None:
        """Give up lease `name` if `holder` holds it, so another may take it at once."""
        with self._session() as session:
            session.execute(
                delete(LeaseRow).where(LeaseRow.name == name).where(LeaseRow.holder == holder)
            )

    @contextmanager
    def exclusive(self, name: str, seconds: float = 60.0) -> Iterator[bool]:
        """Hold lock `name` for the block, yielding False (at once, without waiting) while
        another process holds it. On PostgreSQL, a session advisory lock: a holder that
        dies loses it with its connection. On SQLite, lease `name`, renewed every third of
        `seconds` while the block runs: a holder that dies loses it `seconds` later."""
        if self._engine.dialect.name == "postgresql":
            with self._advisory_lock(name) as held:
                yield held
            return
        holder = uuid.uuid4().hex
        if not self.hold_lease(name, holder, seconds):
            yield False
            return
        done = threading.Event()

        def renew() -> None:
            while not done.wait(seconds / 3):
                self.hold_lease(name, holder, seconds)

        renewer = threading.Thread(target=renew, name=f"lease-{name}", daemon=True)
        renewer.start()
        try:
            yield True
        finally:
            done.set()
            renewer.join()
            self.release_lease(name, holder)

    @contextmanager
    def _advisory_lock(self, name: str) -> Iterator[bool]:
        key = int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)
        with self._engine.connect() as conn:
            conn = conn.execution_options(isolation_level="AUTOCOMMIT")
            held = bool(conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar())
            try:
                yield held
            finally:
                if held:
                    conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})

    # -- continuous-training decisions ---------------------------------------------------

    def add_decision(self, decision: Decision) -> Decision:
        """Append one controller decision; returns it with its id."""
        values = {k: v for k, v in asdict(decision).items() if k != "id"}
        row = DecisionRow(**{**values, "at": _to_utc(decision.at)})
        with self._session() as session:
            session.add(row)
            session.flush()
            return replace(decision, id=row.id)

    def list_decisions(
        self,
        model_name: str,
        *,
        kinds: Collection[str] | None = None,
        since: datetime | None = None,
        limit: int | None = None,
    ) -> list[Decision]:
        """Model `model_name`'s decisions, oldest first (the newest `limit` of them)."""
        query = select(DecisionRow).where(DecisionRow.model_name == model_name)
        if kinds is not None:
            query = query.where(DecisionRow.kind.in_(sorted(kinds)))
        if since is not None:
            query = query.where(DecisionRow.at >= _to_utc(since))
        query = query.order_by(DecisionRow.id.desc())
        if limit is not None:
            query = query.limit(limit)
        with self._session() as session:
            rows = list(session.scalars(query))
        return [
            Decision(
                model_name=r.model_name,
                at=_utc(r.at),
                kind=r.kind,
                reason=r.reason,
                figures=r.figures or {},
                version=r.version,
                actor=r.actor,
                id=r.id,
            )
            for r in reversed(rows)
        ]

    def forget_decisions(self, model_name: str) -> None:
        """Delete model `model_name`'s decisions (a replay starting over)."""
        with self._session() as session:
            session.execute(delete(DecisionRow).where(DecisionRow.model_name == model_name))

    # -- tokens ------------------------------------------------------------------------

    def add_token(self, token: TokenRecord) -> TokenRecord:
        values = asdict(token)
        for key in ("created_at", "expires_at", "revoked_at"):
            values[key] = values[key] and _to_utc(values[key])
        with self._session() as session:
            session.add(TokenRow(**values))
        return token

    def token(self, token_id: str) -> TokenRecord | None:
        with self._session() as session:
            row = session.get(TokenRow, token_id)
            return None if row is None else _token(row)

    def list_tokens(self) -> list[TokenRecord]:
        """Every token, newest first (revoked and expired ones too)."""
        query = select(TokenRow).order_by(TokenRow.created_at.desc())
        with self._session() as session:
            return [_token(row) for row in session.scalars(query)]

    def revoke_token(self, token_id: str, at: datetime) -> bool:
        """Mark token `token_id` revoked at `at`; False when there is no such live token."""
        with self._session() as session:
            moved = session.execute(
                update(TokenRow)
                .where(TokenRow.id == token_id)
                .where(TokenRow.revoked_at.is_(None))
                .values(revoked_at=_to_utc(at))
            )
            return bool(moved.rowcount)  # type: ignore[attr-defined]

    # -- audit log -----------------------------------------------------------------------

    def append_audit(self, event: AuditEvent, seal: Callable[[AuditEvent], str]) -> AuditEvent:
        """Append `event` to the audit chain: its `seq` and `prev_hash` follow the newest
        event's (`genesis` before the first), then `seal(event)` gives its `hash`. One
        appender at a time takes each place in the chain: on PostgreSQL a transaction
        lock serialises them, on SQLite the write lock taken at BEGIN does."""
        event = replace(event, at=_to_utc(event.at))
        for _ in range(_AUDIT_RETRIES):
            try:
                with self._session() as session:
                    if session.get_bind().dialect.name == "postgresql":
                        session.execute(text(f"SELECT pg_advisory_xact_lock({_PG_AUDIT_LOCK})"))
                    head = session.execute(
                        select(AuditEventRow.seq, AuditEventRow.hash)
                        .order_by(AuditEventRow.seq.desc())
                        .limit(1)
                    ).first()
                    seq, prev = (head[0] + 1, head[1]) if head else (1, AUDIT_GENESIS)
                    placed = replace(event, seq=seq, prev_hash=prev)
                    placed = replace(placed, hash=seal(placed))
                    session.add(AuditEventRow(**asdict(placed)))
                return placed
            except IntegrityError:  # another appender took this place: take the next
                continue
        raise StoreUnavailableError(
            f"Could not append to the audit log of {_redact(self.url)}: "
            f"{_AUDIT_RETRIES} other writers took every place first."
        )

    def audit_span(self, since: datetime | None = None) -> tuple[int, int] | None:
        """The first and last sequence numbers held (of events at or after `since`);
        None when there are none."""
        seq = AuditEventRow.seq
        query = select(func.min(seq), func.max(seq))
        if since is not None:
            query = query.where(AuditEventRow.at >= _to_utc(since))
        with self._session() as session:
            first, last = session.execute(query).one()
        return None if first is None else (int(first), int(last))

    def prune_audit(self, through: int) -> int:
        """Delete the audit events up to sequence number `through` (past retention); how
        many. The caller anchors the last one first, so the chain still verifies."""
        with self._session() as session:
            done = session.execute(delete(AuditEventRow).where(AuditEventRow.seq <= through))
            return int(getattr(done, "rowcount", 0) or 0)

    def audit_events(
        self,
        *,
        after: int = 0,
        since: datetime | None = None,
        actions: Collection[str] | None = None,
        batch: int = 10_000,
    ) -> Iterator[AuditEvent]:
        """The audit events after sequence number `after` (and at or after `since`, and
        of `actions` only), in chain order, read `batch` at a time so a long log streams."""
        # `prodml audit verify` reads every event (benchmarks/governance.py): columns, not
        # ORM objects; the figures' JSON as text, for `_audit` to parse; and a batch held
        # as plain tuples, each made an event only when it is yielded. Tuples of plain
        # values leave the garbage collector's care, events that die young never enter
        # its older generations: a batch of 10,000 events held at once set off a full
        # collection every few batches, an eighth of the time of a verify.
        c = AuditEventRow.__table__.c
        figures = cast(c.figures, Text)
        columns = (c.seq, c.at, c.actor, c.action, c.target, c.reason, figures, c.prev_hash, c.hash)
        while True:
            query = select(*columns).where(c.seq > after)
            if since is not None:
                query = query.where(c.at >= _to_utc(since))
            if actions is not None:
                query = query.where(c.action.in_(sorted(actions)))
            query = query.order_by(c.seq).limit(batch)
            with self._session() as session:
                rows = [tuple(row) for row in session.execute(query)]
            for row in rows:
                yield _audit(row)
            if len(rows) < batch:
                return
            after = rows[-1][0]

    @contextmanager
    def _session(self) -> Iterator[Session]:
        try:
            with self._sessions.begin() as session:
                yield session
        except (OperationalError, ProgrammingError) as exc:
            raise StoreUnavailableError(
                f"The metadata database at {_redact(self.url)} failed: {_first_line(exc)}."
            ) from exc


def _create_engine(url: str) -> Engine:
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ConfigError(
            f"metadata_url {url!r} is not a database URL. Use e.g. sqlite:///path/metadata.db "
            "or postgresql+psycopg://user@host:5432/dbname."
        ) from None
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    try:
        engine = create_engine(parsed, pool_pre_ping=True)
    except ModuleNotFoundError as exc:
        extra = _DRIVER_EXTRAS.get(parsed.get_backend_name(), "all")
        raise ConfigError(
            f"metadata_url {_redact(url)} needs the driver '{exc.name}', which is not installed. "
            f"Run: pip install 'prodml[{extra}]'."
        ) from None
    except SQLAlchemyError as exc:
        raise ConfigError(f"metadata_url {_redact(url)} cannot be used: {exc}.") from None
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_connect)
        event.listen(engine, "begin", _sqlite_begin)
    return engine


def _sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy, not the sqlite3 module, decide where transactions begin (see below).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    # WAL lets the server read while a batch job writes; busy_timeout waits out short locks.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _sqlite_begin(conn: Connection) -> None:
    # Take the write lock up front: sqlite3 would otherwise run DDL outside any transaction,
    # and two processes opening a new workspace would race through the migrations.
    conn.exec_driver_sql("BEGIN IMMEDIATE")


def _migrate(engine: Engine) -> None:
    with engine.connect() as conn:
        if _current_revisions(conn) == [SCHEMA_HEAD]:
            return
    from alembic import command
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    known = {rev.revision for rev in ScriptDirectory.from_config(config).walk_revisions()}
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_MIGRATION_LOCK})
        _refuse_newer(conn, known)
        config.attributes["connection"] = conn
        command.upgrade(config, "head")


def _current_revisions(conn: Connection) -> list[str]:
    """The revisions recorded in alembic_version; none for a new database."""
    if not inspect(conn).has_table("alembic_version"):
        return []
    return sorted(conn.execute(text("SELECT version_num FROM alembic_version")).scalars())


def _refuse_newer(conn: Connection, known: set[str]) -> None:
    current = set(_current_revisions(conn))
    unknown = current - known
    if unknown:
        raise SchemaVersionError(
            f"The metadata database is at schema revision {', '.join(sorted(unknown))}, which "
            "this prodml does not know: it was written by a newer prodml. Upgrade prodml "
            "(pip install -U prodml); the database was left untouched."
        )


def _snapshot(row: SnapshotRow) -> SnapshotRecord:
    return SnapshotRecord(
        id=row.id,
        source=row.source,
        created_at=_utc(row.created_at),
        num_rows=row.num_rows,
        num_columns=row.num_columns,
        uri=row.uri,
        quarantined_rows=row.quarantined_rows,
        quarantine_uri=row.quarantine_uri,
        profile=row.profile,
        contract_version=row.contract_version,
        parents=list(row.parents or []),
        lineage=dict(row.lineage or {}),
    )


def _snapshot_row(snapshot: SnapshotRecord) -> SnapshotRow:
    return SnapshotRow(**{**asdict(snapshot), "created_at": _to_utc(snapshot.created_at)})


def _ingestion(row: IngestionRow) -> IngestionRecord:
    return IngestionRecord(
        batch_id=row.batch_id,
        snapshot_id=row.snapshot_id,
        source=row.source,
        contract_version=row.contract_version,
        created_at=_utc(row.created_at),
        rows=row.rows,
        rejected=row.rejected,
        fingerprint=row.fingerprint,
        quarantine_uri=row.quarantine_uri,
        report=dict(row.report or {}),
    )


def _finding(row: FindingRow) -> Finding:
    return Finding(
        id=row.id,
        monitor=row.monitor,
        model_name=row.model_name,
        model_version=row.model_version,
        window_start=_utc(row.window_start),
        window_end=_utc(row.window_end),
        metric=row.metric,
        feature=row.feature,
        value=row.value,
        created_at=_utc(row.created_at),
    )


def _alert(row: AlertRow) -> Alert:
    return Alert(
        id=row.id,
        rule=row.rule,
        model_name=row.model_name,
        subject=row.subject,
        status=row.status,
        first_window_end=_utc(row.first_window_end),
        last_window_end=_utc(row.last_window_end),
        value=row.value,
        detail=dict(row.detail or {}),
        notified_at=_utc(row.notified_at) if row.notified_at else None,
        resolved_at=_utc(row.resolved_at) if row.resolved_at else None,
    )


def _current_changes() -> Select[DeploymentEventRow]:
    """Each deployment's newest change: the event at the revision the deployment is at."""
    return select(DeploymentEventRow).join(
        DeploymentRow,
        (DeploymentRow.name == DeploymentEventRow.deployment)
        & (DeploymentRow.revision == DeploymentEventRow.revision),
    )


def _change(row: DeploymentEventRow) -> PolicyChange:
    return PolicyChange(
        deployment=row.deployment,
        revision=row.revision,
        policy=dict(row.policy),
        actor=row.actor,
        action=row.action,
        reason=row.reason,
        at=_utc(row.at),
        figures=dict(row.figures or {}),
    )


def _token(row: TokenRow) -> TokenRecord:
    return TokenRecord(
        id=row.id,
        secret_hash=row.secret_hash,
        role=row.role,
        model=row.model,
        name=row.name,
        created_by=row.created_by,
        created_at=_utc(row.created_at),
        expires_at=row.expires_at and _utc(row.expires_at),
        revoked_at=row.revoked_at and _utc(row.revoked_at),
    )


def _audit(row: tuple[Any, ...]) -> AuditEvent:
    """An event from a row of `audit_events` (as `MetadataStore.audit_events` selects it)."""
    seq, at, actor, action, target, reason, figures, prev_hash, hash_ = row
    # In the order of AuditEvent's fields: passed by keyword, a third slower.
    return AuditEvent(
        actor, action, target, _utc(at), reason, _json(figures), seq, prev_hash, hash_
    )


def _json(text: str | None) -> Any:
    """A JSON column's `text` as its type reads it (json.loads), several times faster by
    orjson; what orjson refuses and json reads (NaN, infinities, lone surrogates) by
    json. One difference: an integer past 64 bits reads as a float, but no recorded
    event holds one (`AuditLog.record` passes figures through orjson, which refuses
    them), so only an edit could, and `verify` then names it."""
    if text is None:
        return None
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)


def _stale(change: PolicyChange, current: PolicyChange | None) -> StateError:
    now = "does not exist" if current is None else f"is at revision {current.revision}"
    return StateError(
        f"Deployment {change.deployment!r} {now}; this change was made as revision "
        f"{change.revision}. Someone changed it meanwhile: read its state again and decide "
        "on that (prodml deploy status)."
    )


def _utc(value: datetime) -> datetime:
    # SQLite hands back naive datetimes; everything we store is UTC.
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _to_utc(value: datetime) -> datetime:
    # SQLite would store an aware time's wall clock and drop its offset: convert first.
    if value.tzinfo is None:
        raise ValueError(f"Times stored in metadata must be timezone-aware, got {value!r}.")
    return value.astimezone(UTC)


def _redact(url: str) -> str:
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return url


def _first_line(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None) or exc
    return str(orig).strip().splitlines()[0] if str(orig).strip() else type(orig).__name__
