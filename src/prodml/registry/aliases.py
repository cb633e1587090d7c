"""Aliases moved behind prodml's back: anyone with access to MLflow can point `@champion`
elsewhere, and MLflow keeps no record of it. The audit log does keep every move prodml
made, so replaying it says where each alias should be; any difference from MLflow is an
unrecorded move, recorded when found and, with `governance.restore_aliases`, undone.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from prodml.govern.audit import AuditLog
from prodml.registry.registry import ModelRegistry
from prodml.store import AuditEvent

OUTSIDE = "someone outside prodml (directly in MLflow)"
UNRECORDED = "alias.unrecorded"
MOVES = ("alias.move", "model.archive", UNRECORDED)  # the events that place an alias


@dataclass(frozen=True)
class AliasDrift:
    """`alias` ("name@alias") is at version `found` in MLflow (None: deleted) where the
    audit log last put it at `recorded` (None: never set, or removed)."""

    alias: str
    recorded: str | None
    found: str | None

    def sentence(self) -> str:
        was = f"version {self.recorded}" if self.recorded else "nowhere"
        now = f"version {self.found}" if self.found else "deleted"
        return f"{self.alias} was moved outside prodml: the audit log has it at {was}, MLflow {now}"


def recorded_aliases(events: Iterable[AuditEvent]) -> dict[str, str]:
    """Where the audit log's events leave each alias: moved (`alias.move`), removed with
    an archived version (`model.archive`), or found moved and recorded (`alias.unrecorded`)."""
    where: dict[str, str] = {}
    for event in events:
        if event.action == "alias.move":
            where[event.target] = str(event.figures["version"])
        elif event.action == "model.archive":
            name = event.target.split("/")[0]
            for alias in event.figures.get("aliases", []):
                where.pop(f"{name}@{alias}", None)
        elif event.action == UNRECORDED:
            found = event.figures.get("found")
            if found is None:
                where.pop(event.target, None)
            else:
                where[event.target] = str(found)
    return where


def check_aliases(
    registry: ModelRegistry, audit: AuditLog, *, restore: bool = False
) -> list[AliasDrift]:
    """Every alias MLflow holds elsewhere than the audit log says, each recorded as an
    `alias.unrecorded` event (so it is reported once); with `restore`, an alias prodml
    had placed is moved back, and that move recorded too."""
    expected = recorded_aliases(audit.events(actions=MOVES))
    found = registry.aliases()
    drifts = [
        AliasDrift(alias, expected.get(alias), found.get(alias))
        for alias in sorted(expected.keys() | found.keys())
        if expected.get(alias) != found.get(alias)
    ]
    for drift in drifts:
        figures = {"recorded": drift.recorded, "found": drift.found}
        audit.record(OUTSIDE, UNRECORDED, drift.alias, drift.sentence(), figures)
        if restore and drift.recorded is not None:
            name, alias = drift.alias.split("@")
            registry.set_alias(
                name,
                alias,
                drift.recorded,
                actor="prodml",
                reason=f"moved back to version {drift.recorded} (governance.restore_aliases)",
            )
    return drifts
