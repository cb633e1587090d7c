"""A trained model: its flavor's estimator, the encoder, calibration and conformal
quantiles, and a pickle-free on-disk form.

The flavor (`train/flavors/`) knows the estimator; this module knows everything around it,
the same for every flavor. On disk a model is a folder: ``model.json`` (flavor, encoder,
params), the estimator's own files (LightGBM's text format, skops for scikit-learn) and
``manifest.json`` with every file's SHA-256, checked before anything is deserialized.

A model prodml fitted reads the encoder's float matrix. A model fitted elsewhere (a
notebook's `Pipeline`) reads a DataFrame of its original columns, rebuilt with the dtypes
it was fitted on (`frame_dtypes`); the encoder then only describes its inputs.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from prodml.errors import ConfigError, DataValidationError
from prodml.store.hashing import verify_manifest, write_manifest
from prodml.train import calibration
from prodml.train.encoding import FeatureSpec, TabularEncoder
from prodml.train.flavors import (
    CLASSIFICATION,
    REGRESSION,
    Explains,
    Flavor,
    RowScorer,
    ScoresOneRow,
    get_flavor,
)

__all__ = ["CLASSIFICATION", "REGRESSION", "TrainedModel", "fit_model"]


@dataclass
class TrainedModel:
    """A fitted model: it scores rows by the probability of the positive class
    (classification) or by the predicted value (regression)."""

    flavor: str
    encoder: TabularEncoder
    estimator: Any
    params: dict[str, Any] = field(default_factory=dict)
    calibration: dict[str, list[float]] | None = None  # see train/calibration.py
    task: str = CLASSIFICATION
    conformal: dict[str, Any] | None = None  # see train/conformal.py
    # A model fitted elsewhere: column -> dtype of the frame it reads (None: the matrix).
    frame_dtypes: dict[str, str] | None = None
    positive_class: Any = None  # what a classifier's 1 stands for, when the label was text

    @property
    def spec(self) -> FeatureSpec:
        return self.encoder.spec

    @property
    def implementation(self) -> Flavor:
        return get_flavor(self.flavor)

    def predict_frame(self, frame: pd.DataFrame, *, num_threads: int = 1) -> np.ndarray:
        """Scores of `frame`'s rows; LightGBM on `num_threads` threads (0: every core, for
        batch jobs; one by default, so a server's requests do not fight over cores)."""
        missing = [name for name in self.spec.names if name not in frame.columns]
        if missing:
            raise DataValidationError(
                f"The rows lack the model's input column(s) {missing}; it reads "
                f"{list(self.spec.names)}. Add them (null where unknown)."
            )
        if self.frame_dtypes is not None:
            return self._score(self._frame(frame), num_threads)
        return self._score(self.encoder.encode_frame(frame), num_threads)

    def predict_rows(self, rows: Sequence[Mapping[str, Any]]) -> np.ndarray:
        """Scores of request rows (a field left out is unknown); no pandas for a model
        prodml fitted, so one row costs microseconds."""
        if self.frame_dtypes is not None:
            return self._score(self._frame(pd.DataFrame.from_records(rows)), 1)
        return self._score(self.encoder.encode_rows(rows), 1)

    def contributions(self, rows: Sequence[Mapping[str, Any]]) -> np.ndarray:
        """Exact per-feature contributions, then the base value, in the model's raw
        (log-odds) space before any calibration: one row of len(features) + 1 per row."""
        flavor = self.implementation
        if not isinstance(flavor, Explains):
            raise ConfigError(
                f"Explanations need a flavor that computes contributions (LightGBM); this "
                f"model is {self.flavor}. Train a lightgbm candidate to have them."
            )
        if self.frame_dtypes is not None:
            return flavor.contributions(
                self.estimator, self._frame(pd.DataFrame.from_records(rows))
            )
        return flavor.contributions(self.estimator, self.encoder.encode_rows(rows))

    def one_row(self) -> RowScorer | None:
        """A faster scorer of one packed row (`TabularEncoder.pack_row`), when the flavor
        has one and the model reads the encoded matrix."""
        flavor = self.implementation
        if self.frame_dtypes is not None or not isinstance(flavor, ScoresOneRow):
            return None
        return flavor.one_row(self.estimator, len(self.spec.names))

    def describe(self) -> dict[str, Any]:
        """Everything about the model but the estimator itself (what `model.json` holds)."""
        return {
            "flavor": self.flavor,
            "encoder": self.encoder.to_dict(),
            "params": self.params,
            "calibration": self.calibration,
            "task": self.task,
            "conformal": self.conformal,
            "frame_dtypes": self.frame_dtypes,
            "positive_class": self.positive_class,
        }

    def save(self, folder: Path) -> dict[str, str]:
        """Write the model to `folder` and return its manifest (file -> SHA-256)."""
        folder.mkdir(parents=True, exist_ok=True)
        self.implementation.save(self.estimator, folder)
        (folder / "model.json").write_text(json.dumps(self.describe(), indent=2, default=str))
        _write_signature(self.spec, folder)
        return write_manifest(folder)

    @classmethod
    def load(cls, folder: Path, *, what: str = "model") -> TrainedModel:
        """Load a model saved by `save`, after verifying every file's SHA-256."""
        verify_manifest(folder, what=what)
        meta = json.loads((folder / "model.json").read_text())
        return cls(
            meta["flavor"],
            TabularEncoder.from_dict(meta["encoder"]),
            get_flavor(meta["flavor"]).load(folder, what=what),
            meta.get("params", {}),
            meta.get("calibration"),
            meta.get("task", CLASSIFICATION),
            meta.get("conformal"),
            meta.get("frame_dtypes"),
            meta.get("positive_class"),
        )

    def _score(self, x: Any, num_threads: int) -> np.ndarray:
        raw = self.implementation.predict(
            self.estimator, x, task=self.task, num_threads=num_threads
        )
        return calibration.apply(self.calibration, raw)

    def _frame(self, frame: pd.DataFrame) -> pd.DataFrame:
        """The model's columns in its order, each cast back to the dtype it was fitted on
        (a JSON row's 3 for an int column, text for a pandas category)."""
        assert self.frame_dtypes is not None
        out = {}
        for name, dtype in self.frame_dtypes.items():
            values = frame[name] if name in frame.columns else pd.Series(None, index=frame.index)
            out[name] = _cast(values, dtype)
        return pd.DataFrame(out, index=frame.index)


def _cast(values: pd.Series, dtype: str) -> pd.Series:
    if dtype == "category":
        return values.astype("category")
    if dtype in ("object", "string", "str"):
        return values.astype(object).where(values.notna(), np.nan)
    if dtype == "bool" and values.notna().all():
        return values.astype(bool)
    numeric = pd.to_numeric(values, errors="coerce")
    if dtype.startswith(("int", "uint")) and numeric.notna().all() and (numeric % 1 == 0).all():
        return numeric.astype(np.dtype(dtype))
    return numeric.astype(float)


def _write_signature(spec: FeatureSpec, folder: Path) -> None:
    """An `MLmodel` file holding only the input signature, so MLflow's UI shows the schema
    of a registered version (prodml loads the model from its own files, never this one)."""
    from mlflow.models import Model, ModelSignature
    from mlflow.types import ColSpec, Schema, TensorSpec

    columns: list[ColSpec | TensorSpec] = [
        ColSpec("string", name, required=False) for name in spec.categorical
    ]
    columns += [ColSpec("double", name, required=False) for name in spec.numeric]
    signature = ModelSignature(inputs=Schema(columns), outputs=Schema([ColSpec("double", "score")]))
    Model(signature=signature).save(str(folder / "MLmodel"))


def fit_model(
    flavor: str,
    train: pd.DataFrame,
    label: str,
    spec: FeatureSpec,
    *,
    valid: pd.DataFrame | None = None,
    params: Mapping[str, Any] | None = None,
    seed: int = 0,
    callbacks: Sequence[Any] = (),
    task: str = CLASSIFICATION,
) -> TrainedModel:
    """Fit one flavor on `train`; a flavor that can stops early on `valid` when given,
    and calls `callbacks` after each round (e.g. to prune a tuning trial)."""
    implementation = get_flavor(flavor)
    if task not in implementation.tasks:
        raise ValueError(
            f"flavor {flavor!r} fits {' or '.join(implementation.tasks)} only; the task is "
            f"{task}. Pick another flavor."
        )
    encoder = TabularEncoder(spec).fit(train)
    held = None if valid is None else (encoder.encode_frame(valid), _target(valid, label, task))
    estimator, used = implementation.fit(
        encoder.encode_frame(train),
        _target(train, label, task),
        spec=spec,
        task=task,
        params=dict(params or {}),
        seed=seed,
        valid=held,
        callbacks=callbacks,
    )
    return TrainedModel(flavor, encoder, estimator, used, task=task)


def _target(frame: pd.DataFrame, label: str, task: str) -> np.ndarray:
    values = frame[label]
    return (
        values.astype(int).to_numpy() if task == CLASSIFICATION else values.astype(float).to_numpy()
    )
