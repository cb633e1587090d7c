"""Check batches of a source against its contract, row by row and as a whole.

Row checks type each cell (a CSV's text becomes the contract's type), then test nulls,
ranges, allowed values and duplicate keys. An *error* rejects the row, with every reason,
to the quarantine; a *warning* keeps it and is reported. Dataset checks (row count,
freshness, null rates and distributions against the reference profile) run once the
whole source has been read. Everything is vectorised; reasons are built for failing rows
only, so a clean batch costs little more than reading it.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from prodml.data import steps
from prodml.data.contract import ColumnContract, Contract
from prodml.data.sources.files import FILE_KEY
from prodml.errors import BatchRejected, DataValidationError

REASON, ROW, FILE, BATCH, EXTRA = "_reject_reason", "_row", "_file", "_batch_id", "_extra"
EXAMPLES = 5
_TRUE = dict.fromkeys(("true", "t", "1", "yes"), True) | dict.fromkeys(
    ("false", "f", "0", "no"), False
)
ZONE_SUFFIX = r"(?:[zZ]|\s?(?:UTC|GMT)|[+-]\d{2}(?::?\d{2})?)$"
_INTEGERS = {
    t: pd.Int64Dtype()
    for t in (pa.int8(), pa.int16(), pa.int32(), pa.int64(), pa.uint8(), pa.uint16(), pa.uint32())
}


PII_WITHHELD = "<personal: withheld>"  # a pii column's failing value, as reports show it


@dataclass
class Violation:
    """One check that failed: where, how often, and a few examples to look at."""

    check: str
    severity: str
    message: str
    column: str | None = None
    count: int = 0
    examples: list[Any] = field(default_factory=list)
    rows: list[int] = field(default_factory=list)  # 1-based, within `files[i]` when given
    files: list[str] = field(default_factory=list)


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
        self._seen: dict[tuple[str, ...], _SeenKeys] = {}  # hashes of accepted keys so far
        self._newest: pd.Timestamp | None = None
        self._file: str | None = None
        self._file_rows = 0

    def check(
        self, batch: pa.RecordBatch | pa.Table | pd.DataFrame
    ) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Split one batch into typed accepted rows and raw rejected rows with reasons."""
        raw = _to_frame(batch)
        self._check_columns(list(map(str, raw.columns)))
        raw = steps.before_checks(raw, self.contract.steps)
        file = _file_of(batch) or self.report.source
        if file != self._file:
            self._file, self._file_rows = file, 0
        numbers = np.arange(self._file_rows + 1, self._file_rows + len(raw) + 1)
        reasons = np.full(len(raw), "", dtype=object)
        typed: dict[str, pd.Series] = {}
        for name, column in self.contract.columns.items():
            values, failures = _column_checks(raw[name], column)
            typed[name] = values
            for check, mask, message, shown in failures:
                self._record(name, column, check, message, mask, shown, numbers, reasons)
        accepted = pd.DataFrame(typed, copy=False)
        # dedup first: a key it drops is expected to repeat, not a duplicate to reject.
        dropped = np.zeros(len(raw), bool)
        dedup_hashes = None
        if dedup := steps.dedup_keys(self.contract.steps):
            dedup_hashes, dropped = self._repeats(accepted, dedup, reasons == "")
            if dropped.any():
                self.report.dropped += int(dropped.sum())
                self._dataset(
                    "dedup",
                    "warning",
                    f"dropped {self.report.dropped} rows repeating ({', '.join(dedup)})",
                )
        key_hashes = None
        if keys := self.contract.keys:
            # Among rows otherwise valid: a rejected first copy does not make the next a dup.
            key_hashes, repeated = self._repeats(accepted, keys, (reasons == "") & ~dropped)
            message = f"duplicate key ({', '.join(keys)})"
            first = self.contract.columns[keys[0]]
            self._record(
                keys[0],
                first,
                "duplicate_key",
                message,
                repeated,
                accepted[keys[0]],
                numbers,
                reasons,
            )
        bad = reasons != ""
        keep = ~bad & ~dropped
        for keyset, hashes in ((keys, key_hashes), (dedup, dedup_hashes)):
            if hashes is not None:
                self._remember(tuple(keyset), hashes[keep])
        self.report.rows += len(raw)
        self.report.rejected += int(bad.sum())
        self._file_rows += len(raw)
        accepted = accepted if keep.all() else accepted[keep].reset_index(drop=True)
        if self.contract.event_timestamp and len(accepted):
            newest = accepted[self.contract.event_timestamp].max()
            if pd.notna(newest) and (self._newest is None or newest > self._newest):
                self._newest = newest
        accepted = steps.derive(accepted, self.contract.steps, _cast)
        return accepted, self._quarantine(raw, bad, numbers, reasons, file)

    def finish(
        self,
        *,
        now: datetime,
        profile: dict[str, Any] | None = None,
        drift: dict[str, float] | None = None,
        raise_on_reject: bool = True,
    ) -> ValidationReport:
        """Dataset-level checks; raises `BatchRejected` if the batch must be rejected (unless
        `raise_on_reject` is False: then the report says so in `batch_rejected`).

        `profile` and `drift` (PSI per column against the reference) describe the accepted
        rows; the caller builds them while the rows stream past.
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
        if r.batch_rejected and raise_on_reject:
            problems = "; ".join(
                v.message for v in r.violations if v.severity == "error" and v.column is None
            )
            # The checks that failed most rows, so the message alone says where to look.
            worst = sorted(
                (v for v in r.violations if v.severity == "error" and v.column is not None),
                key=lambda v: -v.count,
            )[:3]
            most = "; ".join(f"{v.column}: {v.message} ({v.count:,} rows)" for v in worst)
            raise BatchRejected(
                f"{r.source}: the whole batch is rejected ({problems}); nothing was written."
                + (f" Most failed: {most}." if most else "")
                + " Its report (`prodml data validate`) lists every failing check: fix the "
                "source or the contract.",
                r,
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
            # A personal value is not copied into the report: its row and file say where.
            found.examples += [
                None if pd.isna(v) else PII_WITHHELD if column.pii else str(v)
                for v in shown[mask][:take]
            ]
            found.rows += numbers[mask][:take].tolist()
            found.files += [self._file or self.report.source] * min(take, count)
        if severity == "error":
            _add_reason(reasons, mask, f"{name}: {message}{why}")

    def _repeats(
        self, typed: pd.DataFrame, keys: list[str], valid: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Key hashes of every row, and which valid rows repeat a key seen before them."""
        # One key column (the usual case) is hashed alone: no per-row combining of columns.
        key: pd.Series | pd.DataFrame = typed[keys[0]] if len(keys) == 1 else typed[keys]
        hashes = pd.util.hash_pandas_object(key, index=False).to_numpy(np.uint64)
        # A missing key is the null check's business, never a duplicate.
        present = key.notna() if isinstance(key, pd.Series) else key.notna().all(axis=1)
        candidate = valid & np.asarray(present, dtype=bool)
        repeated = np.zeros(len(typed), bool)
        repeated[candidate] = pd.Series(hashes[candidate]).duplicated().to_numpy()
        seen = self._seen.get(tuple(keys))
        if seen is not None:
            repeated |= candidate & seen.contains(hashes)
        return hashes, repeated

    def _remember(self, keys: tuple[str, ...], hashes: np.ndarray) -> None:
        self._seen.setdefault(keys, _SeenKeys()).add(hashes)

    def _quarantine(
        self,
        raw: pd.DataFrame,
        bad: np.ndarray,
        numbers: np.ndarray,
        reasons: np.ndarray,
        file: str,
    ) -> pd.DataFrame:
        """Rejected rows as they arrived: the contract's columns in its order, any extra
        columns folded into one JSON cell, then where they came from and why."""
        if not bad.any():  # the common case: nothing to copy
            return pd.DataFrame(columns=[*self.contract.columns, EXTRA, FILE, ROW, REASON, BATCH])
        names = list(self.contract.columns)
        rows = raw.loc[bad]
        out = rows[names].copy()
        extra = [c for c in raw.columns if c not in self.contract.columns]
        out[EXTRA] = (
            rows[extra].astype("string").apply(lambda r: json.dumps(r.dropna().to_dict()), axis=1)
            if extra and len(rows)
            else pd.Series(pd.NA, index=rows.index, dtype="string")
        )
        out[FILE] = file
        out[ROW] = numbers[bad]
        out[REASON] = reasons[bad]
        out[BATCH] = self.report.batch_id
        return out.reset_index(drop=True)

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


class _SeenKeys:
    """A growing set of 64-bit hashes as sorted runs of doubling size (a binary counter of
    runs, as in an LSM tree): adding N keys in chunks costs O(N log N), never O(N²)."""

    def __init__(self) -> None:
        self._runs: list[np.ndarray] = []

    def add(self, hashes: np.ndarray) -> None:
        run = np.sort(hashes)
        while self._runs and self._runs[-1].size <= 2 * run.size:
            # Merging two sorted runs: the stable sort (timsort) does it in linear time.
            run = np.sort(np.concatenate([self._runs.pop(), run]), kind="stable")
        self._runs.append(run)

    def contains(self, hashes: np.ndarray) -> np.ndarray:
        found = np.zeros(hashes.size, bool)
        for run in self._runs:
            if run.size:
                spot = np.searchsorted(run, hashes).clip(max=run.size - 1)
                found |= run[spot] == hashes
        return found


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
        text = values if column.type == "string" else values.astype("string")
        outside = ~text.isin(column.allowed).to_numpy() & ~null & ~bad_type
        if outside.any():
            failures.append(("allowed", outside, "not an allowed value", raw))
    return values, failures


def _coerce(raw: pd.Series, column: ColumnContract) -> tuple[pd.Series, np.ndarray, str]:
    """(typed values, mask of cells that could not be typed, what they should have been)."""
    kind = column.type
    present = raw.notna().to_numpy()
    if kind == "string":
        return raw.astype("string"), np.zeros(len(raw), bool), ""
    if kind == "integer" and pd.api.types.is_integer_dtype(raw):
        return raw.astype("Int64"), np.zeros(len(raw), bool), ""
    if kind in ("integer", "float"):
        return _coerce_number(raw, kind, present)
    if kind == "boolean":
        if pd.api.types.is_bool_dtype(raw):
            return raw.astype("boolean"), np.zeros(len(raw), bool), ""
        flags = raw.astype("string").str.strip().str.lower().map(_TRUE).astype("boolean")
        return flags, present & flags.isna().to_numpy(), "not true/false"
    return _coerce_time(raw, present, column.timezone)


def _coerce_number(
    raw: pd.Series, kind: str, present: np.ndarray
) -> tuple[pd.Series, np.ndarray, str]:
    text = None
    if kind == "float" and raw.dtype == np.float64:  # already what is stored: no copy
        return raw, np.zeros(len(raw), bool), ""
    if pd.api.types.is_numeric_dtype(raw) and not pd.api.types.is_bool_dtype(raw):
        floats = raw.astype("float64").to_numpy(na_value=np.nan)
    else:
        text = raw.astype("string").str.strip()
        floats = pd.to_numeric(text, errors="coerce").astype("float64").to_numpy(na_value=np.nan)
    bad = present & np.isnan(floats)
    if kind == "float":
        return pd.Series(floats, index=raw.index), bad, "not a number"
    with np.errstate(invalid="ignore"):
        # Fractions, and magnitudes int64 cannot hold, are not integers we can store.
        bad |= ~np.isnan(floats) & ((floats % 1 != 0) | (np.abs(floats) >= 2.0**63))
    values = pd.Series(np.where(bad, np.nan, floats), index=raw.index).astype("Int64")
    if text is not None:  # plain integers that fit int64 exactly, not through a float
        plain = text.str.fullmatch(r"[+-]?\d{1,18}").fillna(False).to_numpy(dtype=bool)
        if plain.any():
            values[plain] = text[plain].astype("Int64")
    return values, bad, "not an integer (64-bit)"


def _coerce_time(
    raw: pd.Series, present: np.ndarray, zone: str | None
) -> tuple[pd.Series, np.ndarray, str]:
    """Timestamps in UTC, microseconds (as stored, so row hashes agree).

    A time without a zone is read in the contract's `timezone`; without one it is
    ambiguous and rejected. The decision is per cell, so it never depends on chunking.
    """
    ok = np.zeros(len(raw), bool)
    if isinstance(raw.dtype, pd.DatetimeTZDtype):
        return raw.dt.tz_convert("UTC").dt.as_unit("us"), ok, ""
    if pd.api.types.is_datetime64_dtype(raw):
        if zone is None:
            return raw.dt.tz_localize("UTC").where(False), present, _NO_ZONE
        return raw.dt.tz_localize(zone).dt.tz_convert("UTC").dt.as_unit("us"), ok, ""
    text = raw.astype("string").str.strip()
    bare = present & ~text.str.contains(ZONE_SUFFIX, regex=True).fillna(False).to_numpy(dtype=bool)
    spelled = text.str.contains(r"(?:\s?(?:UTC|GMT)|z)$", regex=True).fillna(False)
    if spelled.any():  # zones ISO 8601 parsing does not take, written as it does
        fixed = text[spelled].str.replace(r"\s?(?:UTC|GMT)$|z$", "+00:00", regex=True)
        text = text.mask(spelled, fixed)
    stamps = pd.to_datetime(
        text.where(~pd.Series(bare, index=raw.index)), utc=True, errors="coerce", format="ISO8601"
    )
    if bare.any() and zone is not None:
        local = pd.to_datetime(
            text.where(pd.Series(bare, index=raw.index)), errors="coerce", format="ISO8601"
        )
        localized = local.dt.tz_localize(zone, ambiguous="NaT", nonexistent="NaT")
        stamps = stamps.where(~pd.Series(bare, index=raw.index), localized.dt.tz_convert("UTC"))
        bare = np.zeros(len(raw), bool)
    bad = present & (stamps.isna().to_numpy() | bare)
    message = (
        _NO_ZONE
        if bare.any() and not (bad & ~bare).any()
        else "not an ISO 8601 timestamp with a zone"
    )
    return stamps.dt.as_unit("us"), bad, message


_NO_ZONE = "no time zone, and the contract sets no `timezone` to read it in"


def _cast(values: pd.Series, kind: str) -> pd.Series:
    typed, bad, message = _coerce(values, ColumnContract(type=kind))  # type: ignore[arg-type]
    if bad.any():
        raise DataValidationError(
            f"a derived column holds values that are {message}: {values[bad].head(3).tolist()}"
        )
    return typed


def _to_frame(batch: pa.RecordBatch | pa.Table | pd.DataFrame) -> pd.DataFrame:
    """A batch as pandas with nothing lost: integers stay exact (nullable Int64, never float),
    dictionary-encoded columns arrive as their values."""
    if isinstance(batch, pd.DataFrame):
        return batch.reset_index(drop=True)
    table = pa.table(batch) if isinstance(batch, pa.RecordBatch) else batch
    for i, column in enumerate(table.schema):
        if pa.types.is_dictionary(column.type):
            table = table.set_column(i, column.name, table.column(i).cast(column.type.value_type))
    return table.to_pandas(types_mapper=_INTEGERS.get)


def _file_of(batch: object) -> str | None:
    metadata = getattr(getattr(batch, "schema", None), "metadata", None) or {}
    value = metadata.get(FILE_KEY)
    return value.decode() if value else None


def _add_reason(reasons: np.ndarray, mask: np.ndarray, reason: str) -> None:
    current = reasons[mask]
    reasons[mask] = np.where(current == "", reason, current + "; " + reason)
