"""Refused rows as prediction-log records, so monitoring sees them: a sudden rise in rows
refused (an unseen carrier, text where a number was due) is the loudest data-quality
signal there is, and a caller who got a 422 never shows up among the answers.

A reject record has the record's usual head (request id, row, time, channel, model and
the version whose signature refused it), `sent`: the row's values as sent, as text (not
`inputs`: a value that failed its type must not give the log's typed input columns a
second type), and `rejected`: one reason per bad field as ``"<field>: <kind>"`` (kinds in
`KINDS`), so reasons count by kind, not by the value that failed. It has no answer fields.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

import orjson

from prodml.registry import ModelVersionInfo

UNKNOWN_CATEGORY = "unknown category"
NOT_A_NUMBER = "not a number"
NOT_FINITE = "not finite"
MISSING = "missing"
UNEXPECTED = "unexpected field"
INVALID = "invalid"
KINDS = (UNKNOWN_CATEGORY, NOT_A_NUMBER, NOT_FINITE, MISSING, UNEXPECTED, INVALID)
# pydantic's error types, as the kinds above.
_KIND_OF = {
    "literal_error": UNKNOWN_CATEGORY,
    "float_parsing": NOT_A_NUMBER,
    "float_type": NOT_A_NUMBER,
    "int_parsing": NOT_A_NUMBER,
    "int_type": NOT_A_NUMBER,
    "finite_number": NOT_FINITE,
    "missing": MISSING,
    "extra_forbidden": UNEXPECTED,
}
_MAX_TEXT = 200  # a sent value kept in the log, at most this many characters


def reason(field: str, kind: str) -> str:
    """One reason, as records and findings name it."""
    return f"{field}: {kind}"


def request_rejects(
    body: bytes | Mapping[str, Any],
    errors: Sequence[Mapping[str, Any]],
    *,
    request_id: str,
    info: ModelVersionInfo,
    timestamp: datetime,
    channel: str,
    private: Callable[[Mapping[str, Any]], Mapping[str, Any]],
    route: Mapping[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """The reject records of a request that failed validation: one per row with an error
    (`errors` in pydantic's shape, located as ``("rows", i, field)``), with that row's
    inputs as sent. An error not inside a row (the body is not JSON, `rows` is missing)
    is one record for the whole request, as row -1. `private` hashes what the log may not
    keep in clear (`Predictor.logged_sent`). `route` (the deployment and arm whose schema
    refused it) is added to each."""
    rows = _sent_rows(body)
    reasons: dict[int, list[str]] = defaultdict(list)
    for error in errors:
        loc = [part for part in error.get("loc", ()) if part != "body"]
        kind = _KIND_OF.get(str(error.get("type")), INVALID)
        if len(loc) >= 3 and loc[0] == "rows" and isinstance(loc[1], int):
            reasons[loc[1]].append(reason(str(loc[2]), kind))
        elif len(loc) == 2 and loc[0] == "rows" and isinstance(loc[1], int):
            reasons[loc[1]].append(reason("row", kind))  # a row that is not an object
        else:
            reasons[-1].append(reason(str(loc[0]) if loc else "body", kind))
    stamp = timestamp.isoformat()
    return [
        {
            "request_id": request_id,
            "row": row,
            "timestamp": stamp,
            "channel": channel,
            "model": info.name,
            "version": info.version,
            "sent": dict(private(sent(rows[row]))) if 0 <= row < len(rows) else {},
            "rejected": sorted(set(found)),
            **(route or {}),
        }
        for row, found in sorted(reasons.items())
    ]


def _sent_rows(body: bytes | Mapping[str, Any]) -> list[Any]:
    if isinstance(body, bytes | bytearray):
        try:
            body = orjson.loads(body)
        except orjson.JSONDecodeError:
            return []
    rows = body.get("rows") if isinstance(body, Mapping) else None
    return rows if isinstance(rows, list) else []


def sent(row: Any) -> dict[str, str | None]:
    """A sent row as a reject record keeps it: each value as text (JSON text for a list or
    an object), cut to `_MAX_TEXT` characters; null stays null."""
    if not isinstance(row, Mapping):
        return {}
    out: dict[str, str | None] = {}
    for key, value in row.items():
        if value is not None and not isinstance(value, str):
            value = orjson.dumps(value, default=str).decode()
        out[str(key)[:_MAX_TEXT]] = None if value is None else value[:_MAX_TEXT]
    return out
