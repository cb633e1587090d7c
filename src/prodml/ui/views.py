"""What each page shows, read from the workspace (the same services the CLI uses), as
plain data the templates lay out."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from prodml.registry import ModelVersionInfo
from prodml.registry.registry import ARCHIVED_TAG
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
    )


def _headline(gate: dict[str, Any]) -> str:
    """The gate's figure against the champion, else against the first baseline."""
    comparisons = gate.get("comparisons") or []
    if not comparisons:
        return ""
    best = next((c for c in comparisons if c.get("role") == "champion"), comparisons[0])
    return f"{best['improvement']:+.4f} {gate.get('metric', '')} over {best['against']}"
