"""Training on a plain table, with no Python: `prodml train --data NAME --label COL`.

`plan()` decides, from a snapshot's rows and its contract's column facts, what a careful
person would: the task from the label's type, the features (keys, id-like and PII columns,
timestamps left out unless asked), a text label mapped to 0/1 with the positive class
stated, and the split (by time when there is a time column, else seeded and stratified).
The result is a `TableConfig`, recorded on the version, from which `recipe()` rebuilds the
same training data every time (what `prodml models reproduce` re-runs).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd

from prodml.errors import ConfigError, TrainingError
from prodml.train.encoding import FeatureSpec
from prodml.train.flavors import BASELINES, CLASSIFICATION, REGRESSION, flavors_for, get_flavor
from prodml.train.tabular import Candidate, Recipe, TrainSpec

RECIPE = f"{__name__}:recipe"
TASKS = ("auto", CLASSIFICATION, REGRESSION)
_POSITIVE_WORDS = ("1", "true", "yes", "y", "t", "positive", "pos")
_ID_SHARE = 0.5  # a text column with distinct values in more than this share of rows


@dataclass(frozen=True)
class Column:
    """What a contract says of a column: its type, and its PII tag if it has one."""

    type: str  # string, integer, float, boolean, timestamp
    pii: str | None = None


@dataclass(frozen=True)
class TableConfig:
    """Everything needed to rebuild a table model's training data and spec (JSON-able)."""

    data: str  # the snapshot's name
    label: str
    model_name: str
    task: str
    categorical: tuple[str, ...]
    numeric: tuple[str, ...]
    time_column: str | None = None
    valid_from: str | None = None  # ISO time, with a time column
    valid_fraction: float = 0.2
    candidates: tuple[str, ...] = ("lightgbm",)
    tune: int = 0
    positive_class: Any = None  # the label value mapped to 1, when it is not already 0/1
    seed: int = 0
    left_out: dict[str, str] = field(default_factory=dict)  # column -> why

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TableConfig:
        tuples = ("categorical", "numeric", "candidates")
        fields: dict[str, Any] = {k: tuple(v) if k in tuples else v for k, v in data.items()}
        return cls(**fields)

    @property
    def notes(self) -> list[str]:
        """What was decided, in sentences, for the command's output and the card."""
        said = [f"Task: {self.task} of {self.label!r}."]
        if self.positive_class is not None:
            said.append(f"Positive class (scored as 1): {self.positive_class!r}.")
        said.append(f"Features: {len(self.categorical)} categorical, {len(self.numeric)} numeric.")
        if self.left_out:
            said.append(
                "Left out: " + "; ".join(f"{c} ({why})" for c, why in self.left_out.items()) + "."
            )
        return said


def plan(
    frame: pd.DataFrame,
    columns: Mapping[str, Column],
    *,
    data: str,
    label: str,
    keys: Sequence[str] = (),
    time_column: str | None = None,
    valid_from: str | None = None,
    valid_fraction: float = 0.2,
    task: str = "auto",
    model_name: str | None = None,
    candidates: Sequence[str] = ("lightgbm",),
    tune: int = 0,
    include: Sequence[str] = (),
    exclude: Sequence[str] = (),
    positive_class: Any = None,
    seed: int = 0,
) -> TableConfig:
    """Decide how to train on `frame` (see the module docstring); every choice is checked
    against the rows and explained when refused."""
    known = list(frame.columns)
    for option, names in (("label", [label]), ("include", include), ("exclude", exclude)):
        unknown = [n for n in names if n not in known]
        if unknown:
            raise ConfigError(
                f"--{option} names column(s) {unknown} that {data!r} does not have; it has {known}."
            )
    if task not in TASKS:
        raise ConfigError(f"--task must be one of {', '.join(TASKS)}. Got {task!r} instead.")
    facts = {name: columns.get(name) or _column_of(frame[name]) for name in known}
    if time_column is not None:
        if time_column not in known:
            raise ConfigError(
                f"--time {time_column!r} is not a column of {data!r}; it has {known}."
            )
        if facts[time_column].type != "timestamp":
            raise ConfigError(
                f"--time {time_column!r} holds {facts[time_column].type} values; the time "
                "split needs a timestamp column (or --time none for a random split)."
            )
    decided = _task(frame[label], facts[label], task, label)
    positive = _positive(frame[label], decided, positive_class, label)
    left_out: dict[str, str] = {}
    categorical: list[str] = []
    numeric: list[str] = []
    for name in known:
        why = _why_left_out(name, frame[name], facts[name], label, time_column, keys)
        if name in exclude:
            why = "--exclude"
        elif why and name in include and name not in (label, time_column):
            why = None
        if why:
            if name not in (label, time_column):
                left_out[name] = why
            continue
        (numeric if facts[name].type in ("integer", "float", "boolean") else categorical).append(
            name
        )
    if not categorical and not numeric:
        raise ConfigError(
            f"No feature is left in {data!r} after leaving out {left_out}: --include the "
            "columns to learn from."
        )
    if time_column is not None:
        valid_from = _valid_from(frame[time_column], time_column, valid_from, valid_fraction)
    return TableConfig(
        data=data,
        label=label,
        model_name=model_name or data,
        task=decided,
        categorical=tuple(categorical),
        numeric=tuple(numeric),
        time_column=time_column,
        valid_from=valid_from,
        valid_fraction=valid_fraction,
        candidates=tuple(_candidate_names(candidates, decided, tune)),
        tune=tune,
        positive_class=positive,
        seed=seed,
        left_out=left_out,
    )


def recipe(
    snapshots: dict[str, pd.DataFrame],
    workdir: Path,
    *,
    config: Mapping[str, Any],
    carry: Sequence[str] = (),
) -> Recipe:
    """The examples and spec of a `TableConfig` (as a dict), from its one snapshot; the
    `carry` columns ride along unread by the model (the sensitive attributes the gate
    judges fairness by, left out of the features)."""
    table = TableConfig.from_dict(config)
    frame = snapshots[table.data]
    features = [*table.categorical, *table.numeric]
    riders = [c for c in carry if c in frame.columns and c not in features and c != table.label]
    examples = frame[[*features, *riders]].copy()
    for name in table.numeric:
        examples[name] = pd.to_numeric(examples[name], errors="coerce").astype(float)
    examples[table.label] = _target(frame[table.label], table)
    if table.time_column is not None:
        examples[table.time_column] = pd.to_datetime(frame[table.time_column], utc=True)
    examples = examples[examples[table.label].notna()].reset_index(drop=True)
    if table.task == CLASSIFICATION:
        examples[table.label] = examples[table.label].astype(int)
    spec = TrainSpec(
        model_name=table.model_name,
        label=table.label,
        features=FeatureSpec(table.categorical, table.numeric),
        time_column=table.time_column,
        valid_from=None if table.valid_from is None else datetime.fromisoformat(table.valid_from),
        valid_fraction=table.valid_fraction,
        candidates=tuple(_candidate(name, table.tune, table.task) for name in table.candidates),
        task=table.task,
        seed=table.seed,
        intended_use=f"Predicts {table.label!r} of {table.data!r} rows ({table.task}).",
        limitations=tuple(table.notes),
    )
    return Recipe(examples, spec)


def _valid_from(values: pd.Series, time_column: str, given: str | None, fraction: float) -> str:
    """When validation starts, as an aware ISO time: `given` (UTC unless it says), which
    must leave rows on both sides, or the time that holds out the last `fraction`."""
    times = pd.to_datetime(values, utc=True).dropna().sort_values().reset_index(drop=True)
    if times.empty:
        raise ConfigError(f"--time {time_column!r} holds no times to split on.")
    if given is None:
        return str(times.iloc[min(int(len(times) * (1 - fraction)), len(times) - 1)].isoformat())
    try:
        start = pd.Timestamp(given)
    except ValueError:
        raise ConfigError(
            f"--valid-from {given!r} is not a time; give ISO 8601, e.g. 2024-06-01."
        ) from None
    start = start.tz_localize("UTC") if start.tzinfo is None else start.tz_convert("UTC")
    if not times.iloc[0] < start <= times.iloc[-1]:
        raise ConfigError(
            f"--valid-from {given} leaves no rows on one side: {time_column!r} runs from "
            f"{times.iloc[0]} to {times.iloc[-1]}."
        )
    return str(start.isoformat())


def _column_of(values: pd.Series) -> Column:
    """A column's type from its dtype, for a snapshot ingested before contracts were kept
    with it."""
    if pd.api.types.is_bool_dtype(values):
        return Column("boolean")
    if pd.api.types.is_integer_dtype(values):
        return Column("integer")
    if pd.api.types.is_numeric_dtype(values):
        return Column("float")
    if pd.api.types.is_datetime64_any_dtype(values):
        return Column("timestamp")
    return Column("string")


def _task(values: pd.Series, column: Column, asked: str, label: str) -> str:
    present = values.dropna()
    distinct = present.nunique()
    if distinct < 2:
        raise TrainingError(
            f"The label {label!r} has {distinct} distinct value(s): there is nothing to learn. "
            "Check the label column."
        )
    if column.type == "timestamp":
        raise ConfigError(f"The label {label!r} is a timestamp; pick a label to predict.")
    numeric = column.type in ("integer", "float")
    binary = distinct == 2
    if asked == REGRESSION:
        if not numeric:
            raise ConfigError(
                f"--task regression needs a numeric label; {label!r} is {column.type}."
            )
        return REGRESSION
    if asked == CLASSIFICATION or not numeric or (binary and set(present) <= {0, 1}):
        if not binary:
            raise ConfigError(
                f"The label {label!r} has {distinct} classes; prodml trains binary classifiers "
                "and regressors. Recode it to two classes, or --task regression for a number."
            )
        return CLASSIFICATION
    return REGRESSION


def _positive(values: pd.Series, task: str, asked: Any, label: str) -> Any:
    """The label value scored as 1, or None when the label is already 0/1 (or a number)."""
    if task != CLASSIFICATION:
        return None
    classes = sorted(values.dropna().unique().tolist(), key=str)
    if asked is not None:
        match = [c for c in classes if str(c) == str(asked)]
        if not match:
            raise ConfigError(
                f"--positive {asked!r} is not a value of {label!r}; it holds {classes}."
            )
        return None if match[0] in (1, True) else match[0]
    if set(classes) <= {0, 1} or set(classes) <= {False, True}:
        return None
    for word in _POSITIVE_WORDS:
        found = [c for c in classes if str(c).strip().lower() == word]
        if found:
            return found[0]
    counts = values.value_counts()
    return counts.index[-1]  # the rarer class: usually the event worth predicting


def _target(values: pd.Series, table: TableConfig) -> pd.Series:
    if table.task == REGRESSION:
        return pd.to_numeric(values, errors="coerce").astype(float)
    if table.positive_class is None:
        return values.astype("Float64").astype(float)
    return (values.astype(str) == str(table.positive_class)).astype(float).where(values.notna())


def _why_left_out(
    name: str,
    values: pd.Series,
    column: Column,
    label: str,
    time_column: str | None,
    keys: Sequence[str],
) -> str | None:
    if name == label:
        return "the label"
    if name == time_column:
        return "the time column"
    if name in keys:
        return "a key"
    if column.pii:
        return f"PII: {column.pii}"
    if column.type == "timestamp":
        return "a timestamp"
    if column.type == "string" and len(values) and values.nunique() > _ID_SHARE * len(values):
        return "id-like: a distinct value in most rows"
    if values.isna().all():
        return "always null"
    return None


def _candidate_names(names: Sequence[str], task: str, tune: int) -> list[str]:
    usable = [f for f in flavors_for(task) if f not in BASELINES[task] and get_flavor(f).ready]
    out = []
    for name in names:
        if name in usable or name.startswith("sklearn."):
            out.append(name)
        elif name in BASELINES[task] and tune > 0:
            out.append(name)  # tuned, it competes with its own untuned baseline
        elif name in BASELINES[task]:
            raise ConfigError(
                f"--candidates {name!r} is a baseline every model is already judged against; "
                f"as a candidate it needs --tune N to differ from it, or name others "
                f"({', '.join(usable)}, or a scikit-learn class path)."
            )
        else:
            raise ConfigError(
                f"--candidates {name!r} is not a flavor for {task}: use {', '.join(usable)} "
                "or a scikit-learn class path such as "
                "sklearn.ensemble.HistGradientBoostingClassifier."
            )
    if not out:
        raise ConfigError("--candidates names no model: give at least one, e.g. lightgbm.")
    return out


def _candidate(name: str, tune: int, task: str) -> Candidate:
    if name.startswith("sklearn."):
        short = re.sub(r"(?<!^)(?=[A-Z])", "_", name.rpartition(".")[2]).lower()
        return Candidate(short, "sklearn", {"estimator": name})
    if name in BASELINES[task]:  # the baseline keeps its name; the candidate is the tuned one
        return Candidate(f"tuned_{name}", name, n_trials=tune)
    return Candidate(name, name, n_trials=tune)
