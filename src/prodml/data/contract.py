"""Data contracts: the expected shape and statistics of a source, as YAML a person edits.

`prodml data infer` writes a first draft (see `data/infer.py`); people review it and
commit it. The contract's version is a hash of its content, so a snapshot records exactly
which rules it was checked against.
"""

from __future__ import annotations

import hashlib
import json
import re
import zoneinfo
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from prodml.data.steps import ColumnType, Derive, Step, columns_used
from prodml.data.steps import lineage as steps_lineage
from prodml.errors import ConfigError

Severity = Literal["error", "warning"]
Check = Literal["type", "null", "range", "allowed", "duplicate_key"]
PiiTag = Literal["email", "phone", "name", "address", "id", "ip", "birth_date"]


class ColumnContract(BaseModel):
    """What one column must hold. A failed check rejects the row (error) or is reported."""

    model_config = ConfigDict(extra="forbid")

    type: ColumnType
    nullable: bool = True
    min: float | None = None
    max: float | None = None
    allowed: list[str] | None = None  # compared as text: "7", "true" for other types
    pii: PiiTag | None = None
    description: str | None = None  # said with every failure of this column
    severity: dict[Check, Severity] = Field(default_factory=dict)
    timezone: str | None = None  # timestamps: the zone of times written without one

    @model_validator(mode="after")
    def _fits_type(self) -> ColumnContract:
        if (self.min is not None or self.max is not None) and self.type not in ("integer", "float"):
            raise ValueError(f"min/max apply to integer and float columns, not {self.type}")
        if self.timezone is not None:
            if self.type != "timestamp":
                raise ValueError("timezone applies to timestamp columns only")
            try:
                zoneinfo.ZoneInfo(self.timezone)
            except (zoneinfo.ZoneInfoNotFoundError, ValueError):
                raise ValueError(
                    f"unknown timezone {self.timezone!r}; use e.g. UTC or Europe/Paris"
                ) from None
        return self

    def level(self, check: Check) -> Severity:
        return self.severity.get(check, "error")


class RowCount(BaseModel):
    model_config = ConfigDict(extra="forbid")

    min: int = Field(default=0, ge=0)
    max: int | None = Field(default=None, ge=0)


class Contract(BaseModel):
    """Everything a batch of one source must satisfy to become a snapshot."""

    model_config = ConfigDict(extra="forbid")

    name: str
    columns: dict[str, ColumnContract]
    keys: list[str] = Field(default_factory=list)
    event_timestamp: str | None = None
    max_age: str | None = None  # e.g. "36h", "2d": the newest event may be at most this old
    rows: RowCount = Field(default_factory=RowCount)
    max_reject_fraction: float = Field(default=0.1, ge=0.0, le=1.0)
    allow_extra_columns: bool = False
    drift_threshold: float = Field(default=0.25, gt=0.0)
    steps: list[Step] = Field(default_factory=list)  # see data/steps.py
    reference_profile: str | None = None  # a JSON file beside the contract
    reference: dict[str, Any] | None = Field(default=None, exclude=True)

    @field_validator("max_age")
    @classmethod
    def _parse_age(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                _duration(value)
            except ValueError:
                raise ValueError(
                    f"max_age must be a duration like '36h' or '2d', got {value!r}"
                ) from None
        return value

    @model_validator(mode="after")
    def _known_columns(self) -> Contract:
        named = [*self.keys, *([self.event_timestamp] if self.event_timestamp else [])]
        unknown = [c for c in named if c not in self.columns]
        if unknown:
            raise ValueError(f"keys/event_timestamp name unknown column(s) {unknown}")
        unknown = [c for c in columns_used(self.steps) if c not in self.columns]
        if unknown:
            raise ValueError(f"steps name unknown column(s) {unknown}")
        derived = [s.derive for s in self.steps if isinstance(s, Derive)]
        clash = [c for c in derived if c in self.columns or derived.count(c) > 1]
        if clash:
            raise ValueError(f"derived column(s) {clash} clash with other columns")
        if self.event_timestamp and self.columns[self.event_timestamp].type != "timestamp":
            raise ValueError(f"event_timestamp {self.event_timestamp!r} must be a timestamp column")
        return self

    @property
    def max_age_delta(self) -> timedelta | None:
        return None if self.max_age is None else _duration(self.max_age)

    @property
    def version(self) -> str:
        """A short hash of every rule, the reference profile and derive functions' code."""
        body = {
            **self.model_dump(mode="json", exclude={"reference_profile", "steps"}),
            "steps": steps_lineage(self.steps),
            "reference": self.reference,
        }
        return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:12]

    def save(self, path: Path, *, header: str = "") -> None:
        """Write the YAML (and the reference profile beside it, if there is one)."""
        if self.reference is not None:
            self.reference_profile = self.reference_profile or f"{path.stem}.profile.json"
            (path.parent / self.reference_profile).write_text(json.dumps(self.reference, indent=1))
        data = self.model_dump(mode="json", exclude_none=True)
        for column in data["columns"].values():
            if not column.get("severity"):
                column.pop("severity", None)  # every check is an error unless said otherwise
        # Flow style for leaf lists keeps a category set on one line a reviewer can scan.
        body = yaml.safe_dump(data, sort_keys=False, width=100, default_flow_style=None)
        comments = "".join(f"# {line}\n".replace("# \n", "#\n") for line in header.splitlines())
        path.write_text(comments + body, encoding="utf-8")

    @classmethod
    def load(cls, path: Path) -> Contract:
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(
                f"{path}: no such contract. Create one with `prodml data infer SOURCE -o {path}`."
            ) from None
        except (yaml.YAMLError, OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{path}: not a readable YAML contract ({exc}).") from None
        try:
            contract = cls.model_validate(data)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(map(str, e['loc'])) or 'top level'}: {e['msg']}" for e in exc.errors()
            )
            raise ConfigError(f"{path}: invalid contract: {problems}.") from None
        if contract.reference_profile:
            profile = path.parent / contract.reference_profile
            if not profile.exists():
                raise ConfigError(f"{path}: reference_profile {profile} does not exist.")
            contract.reference = json.loads(profile.read_text())
        return contract


_UNITS = {"s": "seconds", "m": "minutes", "min": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def _duration(text: str) -> timedelta:
    """'90m', '36h', '2d', '1w' as a timedelta."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(s|m|min|h|d|w)\s*", text)
    if not match:
        raise ValueError(text)
    return timedelta(**{_UNITS[match[2]]: float(match[1])})
