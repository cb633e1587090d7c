"""Check batches of a source against its contract, row by row and as a whole.

Row checks type each cell (a CSV's text becomes the contract's type), then test nulls,
ranges, allowed values and duplicate keys. An *error* rejects the row, with every reason,
to the quarantine; a *warning* keeps it and is reported. Dataset checks (row count,
freshness, null rates and distributions against the reference profile) run once the
whole source has been read. Everything is vectorised; reasons are built for failing rows
only, so a clean batch costs little more than reading it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from prodml.data import steps
from prodml.data.contract import ColumnContract, Contract
from prodml.errors import DataValidationError

REASON, ROW, BATCH = "_reject_reason", "_row", "_batch_id"
EXAMPLES = 5
_TRUE = dict.fromkeys(("true", "t", "1", "yes"), True) | dict.fromkeys(
    ("false", "f", "0", "no"), False
)
_OFFSET = r"(?:Z|[+-]\d{2}:?\d{2})$"


@dataclass
class Violation:
    """One check that failed: where, how often, and a few examples to look at."""

    check: str
    severity: str
    message: str
    column: str | None = None
    count: int = 0
    examples: list[Any] = field(default_factory=list)
    rows: list[int] = field(default_factory=list)


@dataclass
class ValidationReport:
    source: str
    contract: str
    contract_version: str
    batch_id: str
    rows: int = 0
    rejected: int = 0
    dropped: int = 0  # repeated keys removed by a dedup step (not quarantined)
    violations: list[Violation] = field(default_factory=list)

    @property
    def accepted(self) -> int:
        return self.rows - self.rejected - self.dropped

    @property
    def reject_fraction(self) -> float:
        return self.rejected / self.rows if self.rows else 0.0

    @property
    def batch_rejected(self) -> bool:
        return any(v.severity == "error" and v.column is None for v in self.violations) or (
            any(v.check == "reject_fraction" for v in self.violations)
        )

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "accepted": self.accepted, "batch_rejected": self.batch_rejected}


class Validator:
    """Checks the batches of one source in turn; `finish` adds the dataset-level checks."""

    def __init__(self, contract: Contract, *, source: str, batch_id: str) -> None:
        self.contract = contract
        self.report = ValidationReport(source, contract.name, contract.version, batch_id)
        self._found: dict[tuple[str | None, str], Violation] = {}
        self._seen: dict[tuple[str, ...], np.ndarray] = {}  # sorted key hashes of past batches
        self._newest: pd.Timestamp | None = None

    def check(
        self, batch: pa.RecordBatch | pa.Table | pd.DataFrame
    ) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Split one batch into typed accepted rows and raw rejected rows with reasons."""
        raw = batch if isinstance(batch, pd.DataFrame) else batch.to_pandas()
        raw = steps.before_checks(raw.reset_index(drop=True), self.contract.steps)
        self._check_columns(list(map(str, raw.columns)))
        offset = self.report.rows
        numbers = np.arange(offset + 1, offset + len(raw) + 1)
        reasons = np.full(len(raw), "", dtype=object)
        typed: dict[str, pd.Series] = {}
        for name, column in self.contract.columns.items():
            values, failures = _column_checks(raw[name], column)
            typed[name] = values
            for check, mask, message, shown in failures:
                self._record(name, column, check, message, mask, shown, numbers, reasons)
        accepted = pd.DataFrame(typed)
        if self.contract.keys:
            repeated = self._repeated(accepted, self.contract.keys)
            first = self.contract.columns[self.contract.keys[0]]
            message = f"duplicate key ({', '.join(self.contract.keys)})"
            shown = accepted[self.contract.keys[0]]
            self._record(
                self.contract.keys[0],
                first,
                "duplicate_key",
                message,
                repeated,
                shown,
                numbers,
                reasons,
            )
        dropped = np.zeros(len(raw), bool)
        if dedup := steps.dedup_keys(self.contract.steps):
            dropped = self._repeated(accepted, dedup) & (reasons == "")
            if dropped.any():
                self.report.dropped += int(dropped.sum())
                self._dataset(
                    "dedup",
                    "warning",
                    f"dropped {self.report.dropped} rows repeating ({', '.join(dedup)})",
                )
        if self.contract.event_timestamp:
            newest = accepted[self.contract.event_timestamp].max()
            if pd.notna(newest) and (self._newest is None or newest > self._newest):
                self._newest = newest
        bad = reasons != ""
        self.report.rows += len(raw)
        self.report.rejected += int(bad.sum())
        keep = ~bad & ~dropped
        accepted = accepted if keep.all() else accepted[keep].reset_index(drop=True)
        accepted = steps.derive(accepted, self.contract.steps, _cast)
        if not bad.any():  # the common case: no copies
            return accepted, raw.iloc[:0].astype("string")
        rejected = (
            raw[bad]
            .astype("string")
            .assign(**{ROW: numbers[bad], REASON: reasons[bad], BATCH: self.report.batch_id})
        )
        return accepted, rejected.reset_index(drop=True)

    def finish(
        self,
        *,
        now: datetime,
        profile: dict[str, Any] | None = None,
        drift: dict[str, float] | None = None,
    ) -> ValidationReport:
        """Dataset-level checks; raises `DataValidationError` if the batch must be rejected.

        `profile` and `drift` (PSI per column against the reference) describe the accepted
        rows; the caller computes them in its one pass over the written snapshot.
        """
        c, r = self.contract, self.report
        if r.rows == 0:
            raise DataValidationError(
                f"{r.source}: no rows (an empty file, or a CSV with only its header). "
                "Nothing to ingest; check that the export that writes it succeeded."
            )
        if r.rows < c.rows.min or (c.rows.max is not None and r.rows > c.rows.max):
            expected = f"{c.rows.min}–{c.rows.max if c.rows.max is not None else '∞'}"
            self._dataset("row_count", "error", f"{r.rows} rows, expected {expected}")
        if r.reject_fraction > c.max_reject_fraction:
            self._dataset(
                "reject_fraction",
                "error",
                f"{r.rejected} of {r.rows} rows ({r.reject_fraction:.1%}) fail, more than "
                f"max_reject_fraction {c.max_reject_fraction:.1%}",
            )
        max_age = c.max_age_delta
        if max_age is not None and self._newest is not None and now - self._newest > max_age:
            self._dataset(
                "stale",
                "error",
                f"newest {c.event_timestamp} is {self._newest}, older than max_age {c.max_age}",
            )
        if c.reference and profile:
            self._compare_with_reference(c.reference["columns"], profile["columns"], drift or {})
        r.violations = list(self._found.values())
        if r.batch_rejected:
            problems = "; ".join(
                v.message for v in r.violations if v.severity == "error" and v.column is None
            )
            raise DataValidationError(
                f"{r.source}: the whole batch is rejected ({problems}); nothing was written. "
                "See the report (`prodml data validate`) and fix the source or the contract.",
            )
        return r

    # -- helpers -------------------------------------------------------------------------

    def _check_columns(self, names: list[str]) -> None:
        expected = list(self.contract.columns)  # derived columns come later, from steps
        missing = [c for c in expected if c not in names]
        extra = [c for c in names if c not in self.contract.columns]
        if missing:
            raise DataValidationError(
                f"{self.report.source}: missing column(s) {', '.join(missing)} that contract "
                f"{self.contract.name!r} requires; the source has {', '.join(names)}. Fix the "
                "source, or remove the column from the contract."
            )
        if extra and not self.contract.allow_extra_columns:
            raise DataValidationError(
                f"{self.report.source}: column(s) {', '.join(extra)} are not in contract "
                f"{self.contract.name!r}. Add them to the contract, or set "
                "allow_extra_columns: true to drop them."
            )
        if extra:
            self._dataset("extra_columns", "warning", f"dropped column(s) {', '.join(extra)}")

    def _record(
        self,
        name: str,
        column: ColumnContract,
        check: str,
        message: str,
        mask: np.ndarray,
        shown: pd.Series,
        numbers: np.ndarray,
        reasons: np.ndarray,
    ) -> None:
        count = int(mask.sum())
        if not count:
            return
        severity = column.level(check)  # type: ignore[arg-type]
        why = f" ({column.description})" if column.description else ""
        found = self._found.setdefault(
            (name, check), Violation(check, severity, f"{name}: {message}{why}", name)
        )
        found.count += count
        if len(found.examples) < EXAMPLES:
            take = EXAMPLES - len(found.examples)
            found.examples += [None if pd.isna(v) else str(v) for v in shown[mask][:take]]
            found.rows += numbers[mask][:take].tolist()
        if severity == "error":
            _add_reason(reasons, mask, f"{name}: {message}{why}")

    def _repeated(self, typed: pd.DataFrame, keys: list[str]) -> np.ndarray:
        """Rows whose key appeared earlier in this batch or in an earlier one."""
        single = typed[keys[0]]
        hashes: np.ndarray
        if len(keys) == 1 and pd.api.types.is_integer_dtype(single) and not single.isna().any():
            hashes = single.to_numpy(dtype=np.int64).view(np.uint64)  # an integer is its own hash
        else:
            hashes = pd.util.hash_pandas_object(typed[keys], index=False).to_numpy(np.uint64)
        repeated = pd.Series(hashes).duplicated().to_numpy().copy()
        seen = self._seen.get(tuple(keys), np.empty(0, dtype=np.uint64))
        if seen.size:
            spot = np.searchsorted(seen, hashes).clip(max=seen.size - 1)
            repeated |= seen[spot] == hashes
        # Two sorted runs: the stable sort (timsort) merges them in linear time.
        self._seen[tuple(keys)] = np.sort(np.concatenate([seen, np.sort(hashes)]), kind="stable")
        return repeated

    def _compare_with_reference(
        self, reference: dict[str, Any], current: dict[str, Any], drift: dict[str, float]
    ) -> None:
        for name, ref in reference.items():
            now = current.get(name)
            if now is None:
                continue
            if now["null_fraction"] > max(0.05, 2 * ref["null_fraction"]):
                self._dataset(
                    "null_rate",
                    "warning",
                    f"{name}: {now['null_fraction']:.1%} "
                    f"missing, reference {ref['null_fraction']:.1%}",
                    column=name,
                )
            if drift.get(name, 0.0) > self.contract.drift_threshold:
                self._dataset(
                    "drift",
                    "warning",
                    f"{name}: distribution shifted from the reference (PSI {drift[name]:.2f})",
                    column=name,
                )

    def _dataset(self, check: str, severity: str, message: str, column: str | None = None) -> None:
        self._found[(column, check)] = Violation(check, severity, message, column)


def validate_frame(
    frame: pd.DataFrame, contract: Contract, *, source: str = "DataFrame", batch_id: str = "inline"
) -> tuple[pd.DataFrame, pd.DataFrame, Validator]:
    """Row checks of an in-memory frame (no dataset checks): accepted, rejected, validator."""
    validator = Validator(contract, source=source, batch_id=batch_id)
    accepted, rejected = validator.check(frame)
    return accepted, rejected, validator


def _column_checks(
    raw: pd.Series, column: ColumnContract
) -> tuple[pd.Series, list[tuple[str, np.ndarray, str, pd.Series]]]:
    """The column typed per the contract, and each failing check: (check, mask, message, shown)."""
    values, bad_type, type_message = _coerce(raw, column)
    failures = [("type", bad_type, type_message, raw)] if bad_type.any() else []
    null = values.isna().to_numpy() & ~bad_type
    if not column.nullable and null.any():
        failures.append(("null", null, "missing", raw))
    if column.min is not None or column.max is not None:
        numbers = (
            values.astype("float64").to_numpy(na_value=np.nan)
            if column.type != "timestamp"
            else None
        )
        if numbers is not None:
            with np.errstate(invalid="ignore"):
                if column.min is not None and (low := numbers < column.min).any():
                    failures.append(("range", low, f"below min {column.min:g}", raw))
                if column.max is not None and (high := numbers > column.max).any():
                    failures.append(("range", high, f"above max {column.max:g}", raw))
    if column.allowed is not None:
        outside = ~values.isin(column.allowed).to_numpy() & ~null & ~bad_type
        if outside.any():
            failures.append(("allowed", outside, "not an allowed value", raw))
    return values, failures


def _coerce(raw: pd.Series, column: ColumnContract) -> tuple[pd.Series, np.ndarray, str]:
    """(typed values, mask of cells that could not be typed, what they should have been)."""
    kind = column.type
    present = raw.notna().to_numpy()
    if kind == "string":
        return raw.astype("string"), np.zeros(len(raw), bool), ""
    if kind in ("integer", "float"):
        if pd.api.types.is_numeric_dtype(raw) and not pd.api.types.is_bool_dtype(raw):
            numbers = raw.astype("float64") if kind == "float" else raw
        else:
            numbers = pd.to_numeric(raw.astype("string").str.strip(), errors="coerce")
        bad = present & numbers.isna().to_numpy()
        if kind == "float":
            return numbers.astype("float64"), bad, "not a number"
        fractional = numbers.notna().to_numpy() & (
            numbers.astype("float64").to_numpy(na_value=0) % 1 != 0
        )
        bad |= fractional
        return (
            numbers.where(~pd.Series(bad, index=raw.index)).astype("Int64"),
            bad,
            "not an integer",
        )
    if kind == "boolean":
        if pd.api.types.is_bool_dtype(raw):
            return raw.astype("boolean"), np.zeros(len(raw), bool), ""
        flags = raw.astype("string").str.strip().str.lower().map(_TRUE).astype("boolean")
        return flags, present & flags.isna().to_numpy(), "not true/false"
    return _coerce_time(raw, present)


def _coerce_time(raw: pd.Series, present: np.ndarray) -> tuple[pd.Series, np.ndarray, str]:
    # One unit (microseconds, as stored) whatever the input's, so row hashes agree.
    if isinstance(raw.dtype, pd.DatetimeTZDtype):
        return raw.dt.tz_convert("UTC").dt.as_unit("us"), np.zeros(len(raw), bool), ""
    if pd.api.types.is_datetime64_dtype(raw):
        return raw.dt.tz_localize("UTC").dt.as_unit("us"), np.zeros(len(raw), bool), ""
    text = raw.astype("string").str.strip()
    stamps = pd.to_datetime(text, utc=True, errors="coerce", format="ISO8601")
    bad = present & stamps.isna().to_numpy()
    has_zone = text.str.contains(_OFFSET, regex=True).fillna(False).to_numpy(dtype=bool)
    if has_zone.any() and (present & ~has_zone).any():
        # Some values carry a time zone and some do not: the bare ones are ambiguous.
        bad |= present & ~has_zone
        stamps = stamps.where(~pd.Series(bad, index=raw.index))
        reason = "not a timestamp with a time zone, while other rows have one"
        return stamps.dt.as_unit("us"), bad, reason
    return stamps.dt.as_unit("us"), bad, "not an ISO 8601 timestamp"


def _cast(values: pd.Series, kind: str) -> pd.Series:
    typed, bad, message = _coerce(values, ColumnContract(type=kind))  # type: ignore[arg-type]
    if bad.any():
        raise DataValidationError(
            f"a derived column holds values that are {message}: {values[bad].head(3).tolist()}"
        )
    return typed


def _add_reason(reasons: np.ndarray, mask: np.ndarray, reason: str) -> None:
    current = reasons[mask]
    reasons[mask] = np.where(current == "", reason, current + "; " + reason)
