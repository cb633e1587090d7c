"""Human oversight (AI Act Art. 14): a person replaces the model's decision for one
answered row, saying why. The override, not the model's answer, is the decision from
then on (monitoring counts it so); each one is an audit event.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from prodml.clock import Clock
from prodml.errors import ConfigError, NotFoundError
from prodml.govern.audit import AuditLog
from prodml.store import MetadataStore, Override


class Overrides:
    """Records overrides in `metadata` and `audit`."""

    def __init__(self, metadata: MetadataStore, audit: AuditLog, clock: Clock) -> None:
        self.metadata, self.audit, self.clock = metadata, audit, clock

    def record(
        self,
        model: str,
        request_id: str,
        row: int,
        decision: float,
        *,
        actor: str,
        reason: str,
        logged: Sequence[Mapping[str, Any]],
    ) -> Override:
        """Replace the decision of row `row` of request `request_id`, whose records in the
        prediction log are `logged`; `NotFoundError` if that row was never answered."""
        if not reason.strip():
            raise ConfigError("Say why the decision is overridden (`reason`); it is recorded.")
        if not math.isfinite(decision):
            raise ConfigError(f"The decision must be a finite number; got {decision!r}.")
        answered = [
            r for r in logged if r.get("row") == row and not r.get("shadow") and "rejected" not in r
        ]
        if not answered:
            rows = sorted({int(r["row"]) for r in logged if "rejected" not in r and "row" in r})
            where = f"its answered rows are {rows}" if rows else "no answer is logged under it"
            raise NotFoundError(
                f"Request {request_id!r} has no answered row {row} for model {model} ({where}). "
                "Override a request id as the predict response gave it."
            )
        first = answered[0]
        said = first.get("label", first.get("value"))
        override = Override(
            model,
            request_id,
            row,
            float(decision),
            None if said is None else float(said),
            actor,
            reason,
            self.clock.now(),
        )
        self.metadata.add_override(override)
        self.audit.record(
            actor,
            "decision.override",
            f"model/{model}/request/{request_id}/{row}",
            reason,
            {
                "decision": override.decision,
                "model_decision": override.model_decision,
                "version": first.get("version"),
            },
        )
        return override
