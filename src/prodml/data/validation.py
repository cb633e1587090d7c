"""Row-level checks on a batch: rows that fail go to quarantine with their reasons.

A missing column rejects the whole batch (nothing can be checked); so does a share of
failing rows above `max_reject_fraction`, because a batch that bad is a broken pipeline,
not a few bad rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from prodml.errors import DataValidationError

REASON_COLUMN = "_reject_reason"


@dataclass(frozen=True)
class Check:
    """Expectations on one column; every row breaking one is rejected with a reason.

    >>> Check("distance", not_null=True, min_value=0)
    Check(column='distance', not_null=True, min_value=0, max_value=None, allowed=None, why=None)
    """

    column: str
    not_null: bool = False
    min_value: float | None = None
    max_value: float | None = None
    allowed: frozenset[str] | None = None
    why: str | None = None  # appended to the reason, e.g. "label unknown"

    def failures(self, values: pd.Series) -> list[tuple[str, pd.Series]]:
        """Each way a row can fail this check, with the mask of rows that do."""
        null = values.isna()
        suffix = f" ({self.why})" if self.why else ""
        tests = []
        if self.not_null:
            tests.append((f"{self.column} is missing", null))
        if self.min_value is not None:
            tests.append((f"{self.column} < {self.min_value}", ~null & (values < self.min_value)))
        if self.max_value is not None:
            tests.append((f"{self.column} > {self.max_value}", ~null & (values > self.max_value)))
        if self.allowed is not None:
            tests.append(
                (f"{self.column} not an allowed value", ~null & ~values.isin(self.allowed))
            )
        return [(reason + suffix, mask) for reason, mask in tests]


@dataclass
class ValidationResult:
    """The split of a batch: accepted rows, rejected rows (with reasons) and counts."""

    accepted: pd.DataFrame
    rejected: pd.DataFrame
    reasons: dict[str, int] = field(default_factory=dict)

    @property
    def reject_fraction(self) -> float:
        total = len(self.accepted) + len(self.rejected)
        return len(self.rejected) / total if total else 0.0


def validate(
    frame: pd.DataFrame,
    checks: Sequence[Check],
    *,
    source: str,
    max_reject_fraction: float = 0.1,
) -> ValidationResult:
    """Split `frame` into accepted and rejected rows; `source` names it in errors."""
    if not 0.0 <= max_reject_fraction <= 1.0:
        raise ValueError(
            f"max_reject_fraction must be a float in [0, 1]. Got {max_reject_fraction} instead."
        )
    missing = sorted({c.column for c in checks} - set(frame.columns))
    if missing:
        raise DataValidationError(
            f"{source}: missing column(s) {', '.join(missing)}; the batch has "
            f"{', '.join(map(str, frame.columns))}. Fix the source or its checks."
        )
    reasons = pd.Series("", index=frame.index, dtype=object)
    counts: dict[str, int] = {}
    for check in checks:
        for reason, failed in check.failures(frame[check.column]):
            if n := int(failed.sum()):
                counts[reason] = n
                separator = np.where(reasons[failed] != "", "; ", "")
                reasons[failed] = reasons[failed] + separator + reason
    bad = (reasons != "").to_numpy()
    rejected = frame[bad].assign(**{REASON_COLUMN: reasons[bad].to_numpy()})
    result = ValidationResult(
        accepted=frame[~bad].reset_index(drop=True),
        rejected=rejected.reset_index(drop=True),
        reasons=dict(sorted(counts.items(), key=lambda kv: -kv[1])),
    )
    if result.reject_fraction > max_reject_fraction:
        top = ", ".join(f"{r!r}: {n}" for r, n in list(result.reasons.items())[:3])
        raise DataValidationError(
            f"{source}: {len(rejected)} of {len(frame)} rows "
            f"({result.reject_fraction:.1%}) fail validation, more than the allowed "
            f"{max_reject_fraction:.1%}; the whole batch is rejected. Most common: {top}."
        )
    return result
