"""The audit log: every write as an `AuditEvent` in the metadata database, each carrying
the hash of the one before, so an event edited, deleted, inserted or moved with plain SQL
breaks the chain where it happened; and anchors (the head's place and hash, appended to a
file outside the database) so that deleting the newest events is caught too.

The hash is an HMAC-SHA256 under `governance.audit_key` when one is set, so someone who
can write the database but not read the key cannot forge a consistent chain; without a
key it is SHA-256, and only the anchors stand in the way of a chain rewritten whole.
"""

from __future__ import annotations

import getpass
import hashlib
import hmac
import math
import time
from collections.abc import Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

from prodml.clock import Clock
from prodml.store import AuditEvent, MetadataStore
from prodml.store.metadata import AUDIT_GENESIS

ANCHOR_EVERY = 100  # events; and at least every ANCHOR_SECONDS of a process' appends
ANCHOR_SECONDS = 60.0


def seal(event: AuditEvent, key: bytes | None = None) -> str:
    """The hash of `event`'s content and its link to the event before (not its `seq`:
    the chain itself orders events, so a moved event breaks a link, not its own hash)."""
    body = orjson.dumps(
        [
            event.prev_hash,
            event.at.isoformat(),
            event.actor,
            event.action,
            event.target,
            event.reason,
            event.figures,
        ],
        option=orjson.OPT_SORT_KEYS,
    )
    if key is None:
        return hashlib.sha256(body).hexdigest()
    return hmac.new(key, body, hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class Verdict:
    """What `AuditLog.verify` found: `ok`, how many events it checked, and the first bad
    event's sequence number with what is wrong with it."""

    ok: bool
    events: int
    head: int  # the newest event's seq (0: none)
    first_bad: int | None = None
    problem: str = ""

    def sentence(self) -> str:
        if self.ok:
            return f"The audit log is intact: {self.events:,} events, chained and anchored."
        return f"The audit log was tampered with at event {self.first_bad}: {self.problem}."


class AuditLog:
    """Appends to and checks the audit chain in `metadata`, anchoring its head in the
    `anchors` file (one JSON line per anchor)."""

    def __init__(
        self,
        metadata: MetadataStore,
        clock: Clock,
        anchors: Path,
        key: bytes | None = None,
    ) -> None:
        self.metadata, self.clock, self.anchors, self.key = metadata, clock, anchors, key
        # Who an event names when its caller does not say: the signed-in holder of a token,
        # once a command has checked it (see `cli._auth.authorize`), else the OS user.
        self.actor: str | None = None
        self._anchored_at = -math.inf  # a process anchors its first event

    def record(
        self,
        actor: str | None,
        action: str,
        target: str,
        reason: str = "",
        figures: Mapping[str, Any] | None = None,
    ) -> AuditEvent:
        """Append one event: `actor` (None: this process' user) did `action` on `target`
        because `reason`, on these `figures` (made plain JSON first, so what is hashed is
        what is read back)."""
        plain = orjson.loads(orjson.dumps(figures or {}, default=str))
        who = actor or self.actor or getpass.getuser()
        draft = AuditEvent(who, action, target, self.clock.now(), reason, plain)
        event = self.metadata.append_audit(draft, lambda e: seal(e, self.key))
        now = time.monotonic()
        if event.seq % ANCHOR_EVERY == 0 or now - self._anchored_at >= ANCHOR_SECONDS:
            self.anchor(event)
            self._anchored_at = now
        return event

    def anchor(self, event: AuditEvent, *, pruned: bool = False) -> None:
        """Write `event`'s place and hash to the anchors file; `pruned`: the chain now
        starts after it (the events up to it were deleted past retention)."""
        self.anchors.parent.mkdir(parents=True, exist_ok=True)
        anchor = {"seq": event.seq, "hash": event.hash, "at": event.at}
        line = orjson.dumps({**anchor, "pruned": True} if pruned else anchor)
        with self.anchors.open("ab") as out:
            out.write(line + b"\n")

    def events(
        self,
        *,
        since: datetime | None = None,
        target: str | None = None,
        actions: Collection[str] | None = None,
    ) -> Iterator[AuditEvent]:
        """The events in chain order, from `since`, about `target` (or a name in it), of
        `actions` only (when given)."""
        for event in self.metadata.audit_events(since=since, actions=actions):
            if target is None or _about(event, target):
                yield event

    def prune(self, retention: timedelta) -> int:
        """Delete the events older than `retention` (never the newest), anchoring the last
        one deleted first so the chain verifies from the one after it; the pruning is an
        event itself. How many were deleted."""
        cutoff = self.clock.now() - retention
        held, kept = self.metadata.audit_span(), self.metadata.audit_span(since=cutoff)
        if held is None:
            return 0
        # Up to the first event within retention (whatever the clock did before it).
        through = held[1] if kept is None else kept[0] - 1
        if through < held[0]:
            return 0
        last = next(self.metadata.audit_events(after=through - 1, batch=1))
        self.anchor(last, pruned=True)
        self.record(
            "prodml",
            "audit.prune",
            "audit",
            f"events older than {retention.days} days (governance.audit_retention_days)",
            {"through": last.seq, "before": cutoff.isoformat()},
        )
        return self.metadata.prune_audit(last.seq)

    def verify(self) -> Verdict:
        """Walk the whole chain and the anchors; name the first event that breaks them."""
        prev, expected, checked = AUDIT_GENESIS, 1, 0
        hashes: dict[int, str] = {}
        wanted = _anchors(self.anchors)
        start = _pruned(self.anchors)
        for event in self.metadata.audit_events():
            if checked == 0 and start is not None and event.seq == start[0] + 1:
                # The events up to the pruned anchor were deleted past retention.
                prev, expected = start[1], event.seq
                wanted = {s: h for s, h in wanted.items() if s > start[0]}
            if event.seq != expected:
                last = event.seq - 1
                gone = f"event {last} was" if last == expected else f"events {expected}–{last} were"
                return _bad(checked, event.seq, f"{gone} deleted before it")
            if seal(event, self.key) != event.hash:
                return _bad(checked, event.seq, "its fields were edited after it was written")
            if event.prev_hash != prev:
                return _bad(
                    checked,
                    event.seq,
                    "it does not follow the event before it: an event was inserted, "
                    "or events were reordered",
                )
            if event.seq in wanted:
                hashes[event.seq] = event.hash
            prev, expected, checked = event.hash, expected + 1, checked + 1
        head = expected - 1
        for seq, anchored in sorted(wanted.items()):
            if seq > head:
                return _bad(
                    checked,
                    head + 1,
                    f"the chain ends at event {head}, but event {seq} was anchored: "
                    "the newest events were deleted",
                )
            if hashes.get(seq) != anchored:
                return _bad(
                    checked, seq, "the chain was rewritten: its hash differs from the anchor's"
                )
        return Verdict(True, checked, head)


def _bad(checked: int, seq: int, problem: str) -> Verdict:
    return Verdict(False, checked, checked, seq, problem)


def _anchors(path: Path) -> dict[int, str]:
    if not path.exists():
        return {}
    lines: Iterable[bytes] = path.read_bytes().splitlines()
    anchors = [orjson.loads(line) for line in lines if line.strip()]
    return {a["seq"]: a["hash"] for a in anchors}


def _pruned(path: Path) -> tuple[int, str] | None:
    """The newest pruned anchor's place and hash: where the retained chain starts."""
    if not path.exists():
        return None
    anchors = [orjson.loads(line) for line in path.read_bytes().splitlines() if line.strip()]
    pruned = [a for a in anchors if a.get("pruned")]
    return None if not pruned else (pruned[-1]["seq"], pruned[-1]["hash"])


def _about(event: AuditEvent, target: str) -> bool:
    return event.target == target or event.target.startswith((f"{target}/", f"{target}@"))
