"""Draft a data contract from data: types, nulls, ranges, categories, keys, time, PII.

The draft is a starting point a person reviews: ranges get a margin, categories are only
proposed for low-cardinality text, and PII tags are guesses from names and values.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime, timedelta
from typing import cast

import pandas as pd
import pyarrow as pa

from prodml.data.contract import ColumnContract, ColumnType, Contract, PiiTag, RowCount
from prodml.data.profile import profile_frame
from prodml.data.sources import Source
from prodml.data.validate import ZONE_SUFFIX
from prodml.errors import SourceError
from prodml.govern.privacy import PII_VALUES

MAX_CATEGORIES = 200
RANGE_MARGIN = 0.1
_PII_NAMES: list[tuple[PiiTag, re.Pattern[str]]] = [
    ("email", re.compile(r"e_?mail")),
    ("phone", re.compile(r"phone|mobile|\bfax\b|tel(ephone)?\b")),
    ("birth_date", re.compile(r"birth|\bdob\b")),
    ("address", re.compile(r"address|street|zip|postcode|postal")),
    ("ip", re.compile(r"(^|_)ip(_|$)|ip_?addr")),
    ("name", re.compile(r"(^|_)(first|last|full|sur|given|middle)?_?name$")),
    ("id", re.compile(r"ssn|passport|national_id|tax_?id|licen[cs]e|iban|account_?n")),
]


def infer_contract(
    source: Source, name: str, *, max_rows: int = 1_000_000, now: datetime | None = None
) -> Contract:
    """A draft contract from the first `max_rows` rows of `source`, with its profile.

    Freshness (`max_age`) is proposed only for a live feed, one whose newest event is
    at most a week before `now` (default: the wall clock): twice that age, at least a day.
    Historical data says nothing about how fresh tomorrow's batch must be.
    """
    frame, truncated = _head(source, max_rows)
    if frame.empty:
        raise SourceError(f"{source.name}: no rows to infer a contract from.")
    columns: dict[str, ColumnContract] = {}
    typed: dict[str, pd.Series] = {}
    for column in frame.columns:
        kind, values = _typed(frame[column])
        typed[column] = values
        columns[column] = _column(column, kind, values)
    data = pd.DataFrame(typed)
    rows = len(data)
    keys = _key(data, columns)
    for key in keys:  # identifiers grow: a range learnt today would reject tomorrow's ids
        columns[key].min = columns[key].max = None
    event_time = next((c for c, col in columns.items() if col.type == "timestamp"), None)
    return Contract(
        name=name,
        columns=columns,
        keys=keys,
        event_timestamp=event_time,
        max_age=_freshness(data[event_time], now or datetime.now(UTC)) if event_time else None,
        # Seen in full: a plausible range around it. Only the head: at least that much.
        rows=RowCount(min=rows // 2, max=None if truncated else rows * 2),
        reference=profile_frame(data),
    )


def _freshness(times: pd.Series, now: datetime) -> str | None:
    newest = times.max()
    if pd.isna(newest):
        return None
    if newest.tzinfo is None:
        newest = newest.tz_localize("UTC")
    age = now - newest.to_pydatetime()
    if age > timedelta(days=7):
        return None
    hours = max(24, math.ceil(2 * max(age, timedelta(0)).total_seconds() / 3600))
    return f"{hours}h"


def _head(source: Source, max_rows: int) -> tuple[pd.DataFrame, bool]:
    """The first `max_rows` rows, and whether the source had more."""
    batches: list[pa.RecordBatch] = []
    seen = 0
    for batch in source.batches():
        if seen >= max_rows:
            return _frame(batches, max_rows), True
        batches.append(batch.replace_schema_metadata(None))
        seen += batch.num_rows
    return _frame(batches, max_rows), seen > max_rows


def _frame(batches: list[pa.RecordBatch], max_rows: int) -> pd.DataFrame:
    if not batches:
        return pd.DataFrame()
    return pa.Table.from_batches(batches).slice(0, max_rows).to_pandas()


def _typed(values: pd.Series) -> tuple[ColumnType, pd.Series]:
    """The contract type of a column, and the column converted to it."""
    if pd.api.types.is_bool_dtype(values):
        return "boolean", values
    if pd.api.types.is_integer_dtype(values):
        return "integer", values
    if pd.api.types.is_float_dtype(values):
        present = values.dropna()
        integral = len(present) > 0 and bool((present % 1 == 0).all())
        return ("integer" if integral else "float"), values
    if isinstance(values.dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_dtype(values):
        return "timestamp", values
    return _typed_text(values.astype("string"))


def _typed_text(text: pd.Series) -> tuple[ColumnType, pd.Series]:
    present = text.dropna()
    if present.empty:
        return "string", text
    numbers = pd.to_numeric(present, errors="coerce")
    if numbers.notna().all():
        kind: ColumnType = "integer" if bool((numbers % 1 == 0).all()) else "float"
        return kind, pd.to_numeric(text, errors="coerce")
    lowered = present.str.lower()
    if lowered.isin(["true", "false"]).all():
        return "boolean", text.str.lower().map({"true": True, "false": False})
    if present.str.contains(r"^\d{4}-\d{2}-\d{2}", regex=True).all():
        stamps = pd.to_datetime(present, utc=True, errors="coerce", format="ISO8601")
        if stamps.notna().all():
            # Bare times keep a marker, so the contract names the zone they are read in.
            zoned = present.str.contains(ZONE_SUFFIX, regex=True).all()
            typed = pd.to_datetime(text, utc=True, errors="coerce", format="ISO8601")
            return "timestamp", typed if zoned else typed.dt.tz_localize(None)
    return "string", text


def _column(name: str, kind: ColumnType, values: pd.Series) -> ColumnContract:
    present = values.dropna()
    column = ColumnContract(type=kind, nullable=bool(values.isna().any()), pii=_pii(name, present))
    if kind == "timestamp" and not isinstance(values.dtype, pd.DatetimeTZDtype):
        column.timezone = "UTC"  # written without a zone: a guess a reviewer must confirm
    if kind in ("integer", "float") and not present.empty:
        low, high = float(present.min()), float(present.max())
        margin = (high - low) * RANGE_MARGIN
        # Non-negative data (counts, distances) stays non-negative whatever the margin.
        column.min, column.max = (
            (low - margin if low < 0 else max(0.0, low - margin)),
            high + margin,
        )
        if kind == "integer":
            column.min, column.max = float(int(column.min)), float(int(column.max) + 1)
        else:  # six significant digits: a bound a reviewer can read
            column.min, column.max = float(f"{column.min:.6g}"), float(f"{column.max:.6g}")
    if kind == "string" and column.pii is None:
        distinct = present.nunique()
        if distinct <= MAX_CATEGORIES and distinct <= max(20, len(present) // 100):
            column.allowed = sorted(map(str, present.unique()))
    return column


def _pii(name: str, present: pd.Series) -> PiiTag | None:
    lowered = name.lower()
    for tag, pattern in _PII_NAMES:
        if pattern.search(lowered):
            return tag
    if present.dtype.kind in "OUT" or isinstance(present.dtype, pd.StringDtype):
        sample = present.astype(str).head(1000)
        for found, pattern in PII_VALUES:
            if len(sample) and sample.str.match(pattern).mean() > 0.9:
                return cast(PiiTag, found)
    return None


def _key(data: pd.DataFrame, columns: dict[str, ColumnContract]) -> list[str]:
    """A single-column key: a non-null, unique integer or text column named like an id."""
    for name, column in columns.items():
        looks_like_id = re.search(r"(^|_)(id|key|uuid)$", name.lower())
        candidate = looks_like_id and column.type in ("integer", "string") and not column.nullable
        if candidate and data[name].is_unique:
            return [name]
    return []
