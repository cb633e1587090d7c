"""Personal data kept out of what prodml writes: a value of a column tagged `pii` in its
contract, of a field the model does not know, or that looks like an e-mail address, a
phone number or an IP address, is replaced by a keyed hash before it is logged (or left
out of an error message). The hash is an HMAC under `governance.pii_key` (else a key
generated once per workspace), so whoever holds the key can find the same person again
(`prodml privacy erase`) and nobody else can reverse it by guessing.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

PREFIX = "pii:"  # a hashed value reads as such in the log
# Values that are personal whatever their column is called (also proposed as tags by
# `data.infer`).
PII_VALUES: list[tuple[str, re.Pattern[str]]] = [
    ("email", re.compile(r"^[^@\s]+@[^@\s]+\.[a-z]{2,}$", re.IGNORECASE)),
    ("ip", re.compile(r"^(\d{1,3}\.){3}\d{1,3}$")),
    # Seven to fifteen digits with phone punctuation; not a date, not a plain number.
    (
        "phone",
        re.compile(
            r"^(?!\d{4}-\d\d-\d\d)(?!\d+(\.\d+)?$)\+?(?=(\D*\d){7,15}\D*$)[\d\s().-]{7,20}$"
        ),
    ),
]
_ANY_VALUE = re.compile("|".join(f"(?:{p.pattern})" for _, p in PII_VALUES), re.IGNORECASE)


def looks_personal(value: Any) -> bool:
    """Whether text `value` looks like an e-mail address, an IP address or a phone number."""
    return isinstance(value, str) and _ANY_VALUE.match(value.strip()) is not None


class Redactor:
    """Replaces personal values by their keyed hash."""

    def __init__(self, key: bytes) -> None:
        if len(key) < 16:
            raise ValueError("A PII key must be at least 16 bytes.")
        self._key = key

    def hash(self, value: Any) -> str:
        """The keyed hash of `value` as text (the same for the same value, any type)."""
        text = value if isinstance(value, str) else str(value)
        return PREFIX + hmac.new(self._key, text.encode(), hashlib.sha256).hexdigest()[:32]

    def row(
        self, row: Mapping[str, Any], private: Collection[str], known: Collection[str] = ()
    ) -> dict[str, Any]:
        """`row` with the values of `private` fields, of fields not in `known` (when it is
        given) and of any text that looks personal hashed; nulls stay null."""
        return {
            k: v
            if v is None
            or (k not in private and (not known or k in known) and not looks_personal(v))
            else self.hash(v)
            for k, v in row.items()
        }


def workspace_key(configured: str | None, state_dir: Path) -> bytes:
    """The PII key: `governance.pii_key` when set, else one generated on first use and kept
    (readable by its owner only) at `<state_dir>/secrets/pii.key`."""
    if configured:
        return configured.encode()
    path = state_dir / "secrets" / "pii.key"
    if path.exists():
        return bytes.fromhex(path.read_text().strip())
    path.parent.mkdir(parents=True, exist_ok=True)
    draft = path.with_name(f".pii.key.{os.getpid()}")
    fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(secrets.token_bytes(32).hex())
    try:  # whole, or not at all: the first process to link its key wins, others read it
        os.link(draft, path)
    except FileExistsError:
        pass
    finally:
        draft.unlink()
    return bytes.fromhex(path.read_text().strip())
