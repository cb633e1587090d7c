"""Declared cleaning and transformation steps, applied the same way on every ingest.

Steps live in the contract (so its version changes when they do) and run in a fixed
order around the checks: `trim` and `default` on the raw cells, before typing; `dedup`
drops repeated keys (reported, not quarantined); `derive` adds columns computed by a
Python function from the typed, accepted rows. A snapshot's lineage records each step,
and for a derived column the function's name and a hash of its source code.

    steps:
      - trim: [carrier, dest]
      - default: {wind_gust: 0}
      - dedup: [flight_id]
      - derive: dep_hour
        type: integer
        function: my_project.features:departure_hour
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict

from prodml.errors import ConfigError, DataValidationError

if TYPE_CHECKING:  # pandas is imported by the code that runs steps, not by contracts
    import pandas as pd

ColumnType = Literal["string", "integer", "float", "boolean", "timestamp"]


class Trim(BaseModel):
    """Strip surrounding whitespace from text cells (a blank cell becomes missing)."""

    model_config = ConfigDict(extra="forbid")
    trim: list[str]


class Default(BaseModel):
    """Fill missing cells with a value per column."""

    model_config = ConfigDict(extra="forbid")
    default: dict[str, Any]


class Dedup(BaseModel):
    """Keep the first row per key; later rows with the same key are dropped and counted."""

    model_config = ConfigDict(extra="forbid")
    dedup: list[str]


class Derive(BaseModel):
    """A new column: `function(frame) -> Series`, given the typed accepted rows."""

    model_config = ConfigDict(extra="forbid")
    derive: str
    type: ColumnType
    function: str  # "package.module:function"

    def load(self) -> Callable[[pd.DataFrame], pd.Series]:
        module_name, _, attribute = self.function.partition(":")
        try:
            function = getattr(importlib.import_module(module_name), attribute)
        except (ImportError, AttributeError, ValueError) as exc:
            raise ConfigError(
                f"derive {self.derive!r}: cannot import {self.function!r} ({exc}). Give it as "
                "'package.module:function', importable where prodml runs."
            ) from None
        return function


Step = Trim | Default | Dedup | Derive


def columns_used(steps: Sequence[Step]) -> list[str]:
    """Every source column a step names (each must be in the contract)."""
    used: list[str] = []
    for step in steps:
        if isinstance(step, Trim):
            used += step.trim
        elif isinstance(step, Default):
            used += list(step.default)
        elif isinstance(step, Dedup):
            used += step.dedup
    return used


def before_checks(frame: pd.DataFrame, steps: Sequence[Step]) -> pd.DataFrame:
    """Apply `trim` and `default` to raw cells."""
    for step in steps:
        if isinstance(step, Trim):
            for name in step.trim:
                text = frame[name].astype("string").str.strip()
                frame[name] = text.mask(text == "")
        elif isinstance(step, Default):
            frame = frame.fillna(step.default)
    return frame


def dedup_keys(steps: Sequence[Step]) -> list[str]:
    return next((list(s.dedup) for s in steps if isinstance(s, Dedup)), [])


def derive(
    frame: pd.DataFrame, steps: Sequence[Step], cast: Callable[[pd.Series, str], pd.Series]
) -> pd.DataFrame:
    """Add each derived column, cast to its declared type with `cast(values, type)`."""
    for step in steps:
        if isinstance(step, Derive):
            function = step.load()
            try:
                values = function(frame)
            except Exception as exc:  # a user's function: say which one failed, and why
                raise DataValidationError(
                    f"derive {step.derive!r}: {step.function} raised {type(exc).__name__}: {exc}"
                ) from exc
            if len(values) != len(frame):
                raise DataValidationError(
                    f"derive {step.derive!r}: {step.function} returned {len(values)} values for "
                    f"{len(frame)} rows; it must return one value per row."
                )
            import pandas as pd  # loaded already: steps run on pandas frames

            frame[step.derive] = cast(pd.Series(values, index=frame.index), step.type)
    return frame


def lineage(steps: Sequence[Step]) -> list[dict[str, Any]]:
    """The steps as recorded with a snapshot, derived functions pinned by source hash."""
    out = []
    for step in steps:
        entry = step.model_dump()
        if isinstance(step, Derive):
            source = inspect.getsource(step.load())
            entry["source_sha256"] = hashlib.sha256(source.encode()).hexdigest()
        out.append(entry)
    return out
