"""A trained model in one of three flavors, its encoder, and a pickle-free on-disk form.

Flavors: ``majority`` (the base rate), ``logistic`` (regularized linear baseline) and
``lightgbm``. On disk a model is a folder: ``model.json`` (flavor, encoder, params),
the estimator in LightGBM's own text format or scikit-learn's through skops with an
explicit list of trusted types, and ``manifest.json`` with every file's SHA-256, checked
before anything is deserialized.
"""

from __future__ import annotations

import importlib
import inspect
import json
import os
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
import skops.io as sio
from sklearn.compose import ColumnTransformer
from sklearn.dummy import DummyClassifier, DummyRegressor
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from prodml.errors import ConfigError, IntegrityError
from prodml.store.hashing import verify_manifest, write_manifest
from prodml.train import calibration
from prodml.train.encoding import FeatureSpec, TabularEncoder

_CONTRIB_LOCK = threading.Lock()
FLAVORS = ("majority", "logistic", "lightgbm")  # ready to use, no parameters needed
REGRESSION_FLAVORS = ("mean", "ridge", "lightgbm")  # the same, for a numeric label
CLASSIFICATION, REGRESSION = "classification", "regression"
SKLEARN = "sklearn"  # any scikit-learn classifier, named in params["estimator"]
_SKOPS_FILE = "model.skops"
_LGB_FILE = "model.txt"
# Types our sklearn flavors hold beyond skops' own trusted defaults (scikit-learn
# estimators, numpy); any other type found in a file is refused.
_TRUSTED_SKOPS_TYPES = [
    "sklearn.compose._column_transformer.ColumnTransformer",
    "sklearn.dummy.DummyClassifier",
    "sklearn.dummy.DummyRegressor",
    "sklearn.linear_model._ridge.Ridge",
    "sklearn.impute._base.SimpleImputer",
    "sklearn.linear_model._logistic.LogisticRegression",
    "sklearn.pipeline.Pipeline",
    "sklearn.preprocessing._data.StandardScaler",
    "sklearn.preprocessing._encoders.OneHotEncoder",
    "numpy.dtype",
    "numpy.float64",
    "numpy.int64",
    "builtins.slice",
]
DEFAULT_LGB_PARAMS: dict[str, Any] = {
    "objective": "binary",
    "learning_rate": 0.05,
    "num_leaves": 63,
    "min_data_in_leaf": 50,
    "feature_fraction": 0.8,
    "bagging_fraction": 0.8,
    "bagging_freq": 1,
    "lambda_l2": 1.0,
    "cat_smooth": 10,
    "verbose": -1,
    # One core is left free: OpenMP threads spin at every barrier, so when another process
    # holds a core LightGBM slows down by an order of magnitude (demo fit on 2 cores with one
    # busy: 96 s on 2 threads, 3 s on 1).
    "num_threads": max(1, (os.cpu_count() or 2) - 1),
}


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

    @property
    def spec(self) -> FeatureSpec:
        return self.encoder.spec

    def predict_matrix(self, matrix: np.ndarray, *, num_threads: int = 1) -> np.ndarray:
        """Scores of encoded rows; LightGBM on `num_threads` threads (0: every core, for
        batch jobs; one by default, so a server's requests do not fight over cores)."""
        if self.flavor == "lightgbm":
            raw = self.estimator.predict(matrix, num_threads=num_threads)
        elif self.task == REGRESSION:
            raw = self.estimator.predict(matrix)
        else:
            raw = self.estimator.predict_proba(matrix)[:, 1]
        return calibration.apply(self.calibration, raw)

    def predict_frame(self, frame: pd.DataFrame, *, num_threads: int = 1) -> np.ndarray:
        return self.predict_matrix(self.encoder.encode_frame(frame), num_threads=num_threads)

    def contributions(self, rows: Sequence[Mapping[str, Any]]) -> np.ndarray:
        """Exact TreeSHAP contributions per feature, then the base value, in the booster's
        raw (log-odds) space, before any calibration: one row of len(features) + 1 per row.
        LightGBM only; its `pred_contrib` is not thread-safe, hence the lock."""
        if self.flavor != "lightgbm":
            raise ConfigError(
                f"Explanations need a LightGBM model; this one is {self.flavor}. Train a "
                "lightgbm candidate to have them."
            )
        matrix = self.encoder.encode_rows(rows)
        with _CONTRIB_LOCK:
            return np.asarray(self.estimator.predict(matrix, pred_contrib=True, num_threads=1))

    def predict_rows(self, rows: Sequence[Mapping[str, Any]]) -> np.ndarray:
        return self.predict_matrix(self.encoder.encode_rows(rows))

    def save(self, folder: Path) -> dict[str, str]:
        """Write the model to `folder` and return its manifest (file -> SHA-256)."""
        folder.mkdir(parents=True, exist_ok=True)
        if self.flavor == "lightgbm":
            self.estimator.save_model(str(folder / _LGB_FILE))
        else:
            sio.dump(self.estimator, folder / _SKOPS_FILE)
        meta = {
            "flavor": self.flavor,
            "encoder": self.encoder.to_dict(),
            "params": self.params,
            "calibration": self.calibration,
            "task": self.task,
            "conformal": self.conformal,
        }
        (folder / "model.json").write_text(json.dumps(meta, indent=2, default=str))
        _write_signature(self.spec, folder)
        return write_manifest(folder)

    @classmethod
    def load(cls, folder: Path, *, what: str = "model") -> TrainedModel:
        """Load a model saved by `save`, after verifying every file's SHA-256."""
        verify_manifest(folder, what=what)
        meta = json.loads((folder / "model.json").read_text())
        encoder = TabularEncoder.from_dict(meta["encoder"])
        if meta["flavor"] == "lightgbm":
            estimator: Any = lgb.Booster(model_file=str(folder / _LGB_FILE))
        else:
            estimator = sio.load(folder / _SKOPS_FILE, trusted=_trusted(folder / _SKOPS_FILE, what))
        return cls(
            meta["flavor"],
            encoder,
            estimator,
            meta.get("params", {}),
            meta.get("calibration"),
            meta.get("task", CLASSIFICATION),
            meta.get("conformal"),
        )


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
    """Fit one flavor on `train`; LightGBM stops early on `valid` when given, and calls
    `callbacks` after each round (e.g. to prune a tuning trial)."""
    known = (*(FLAVORS if task == CLASSIFICATION else REGRESSION_FLAVORS), SKLEARN)
    if flavor not in known:
        raise ValueError(
            f"flavor must be one of {', '.join(known)} for {task}. Got {flavor!r} instead."
        )
    encoder = TabularEncoder(spec).fit(train)
    x = encoder.encode_frame(train)
    y = _target(train, label, task)
    if flavor == "lightgbm":
        booster, used = _fit_lightgbm(
            encoder, x, y, valid, label, dict(params or {}), seed, list(callbacks), task
        )
        return TrainedModel(flavor, encoder, booster, used, task=task)
    estimator, used = _sklearn_estimator(flavor, spec, dict(params or {}), seed, task)
    estimator.fit(x, y)
    return TrainedModel(flavor, encoder, estimator, used, task=task)


def _target(frame: pd.DataFrame, label: str, task: str) -> np.ndarray:
    values = frame[label]
    return (
        values.astype(int).to_numpy() if task == CLASSIFICATION else values.astype(float).to_numpy()
    )


def _trusted(file: Path, what: str) -> list[str]:
    """The types a skops file may hold: ours, and any from scikit-learn or numpy (the
    `sklearn` flavor's estimators); anything else is refused before it is loaded."""
    found = sio.get_untrusted_types(file=file)
    foreign = [
        t
        for t in found
        if t not in _TRUSTED_SKOPS_TYPES and not t.startswith(("sklearn.", "numpy."))
    ]
    if foreign:
        raise IntegrityError(
            f"{what}: {file.name} holds types prodml does not trust ({', '.join(foreign)}); "
            "refusing to load it. Only scikit-learn and numpy types are loaded."
        )
    return [*_TRUSTED_SKOPS_TYPES, *found]


def _sklearn_class(path: str, task: str) -> Any:
    """A scikit-learn estimator class by its import path (nothing outside `sklearn.`)."""
    module, _, name = path.rpartition(".")
    if not module.startswith("sklearn.") and module != "sklearn":
        raise ConfigError(
            f"estimator {path!r}: the sklearn flavor takes scikit-learn classes only (e.g. "
            "sklearn.ensemble.HistGradientBoostingClassifier), so it can be saved without pickle."
        )
    try:
        found = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"estimator {path!r} cannot be imported: {exc}.") from exc
    if task == CLASSIFICATION and not hasattr(found, "predict_proba"):
        raise ConfigError(f"estimator {path!r} has no predict_proba: it must be a classifier.")
    return found


def _sklearn_estimator(
    flavor: str, spec: FeatureSpec, params: dict[str, Any], seed: int, task: str
) -> tuple[Any, dict[str, Any]]:
    """The estimator and the parameters it was built with (what tracking records)."""
    if flavor == "majority":
        return DummyClassifier(strategy="prior"), {"strategy": "prior"}
    if flavor == "mean":
        return DummyRegressor(strategy="mean"), {"strategy": "mean"}
    n_cat = len(spec.categorical)
    columns = ColumnTransformer(
        [
            ("categorical", OneHotEncoder(handle_unknown="ignore"), list(range(n_cat))),
            (
                "numeric",
                make_pipeline(SimpleImputer(strategy="median"), StandardScaler()),
                list(range(n_cat, len(spec.names))),
            ),
        ]
    )
    if flavor == SKLEARN:
        kwargs = dict(params)
        path = kwargs.pop("estimator", None)
        if not path:
            raise ConfigError(
                "the sklearn flavor needs params['estimator'], a scikit-learn class path, "
                "e.g. sklearn.ensemble.HistGradientBoostingClassifier."
            )
        cls = _sklearn_class(path, task)
        if "random_state" in inspect.signature(cls).parameters:
            kwargs["random_state"] = seed
        return Pipeline([("columns", columns), ("model", cls(**kwargs))]), {
            "estimator": path,
            **kwargs,
        }
    if flavor == "ridge":
        used = {"alpha": 1.0, **params}
        return Pipeline([("columns", columns), ("model", Ridge(**used))]), used
    used = {"C": 1.0, "max_iter": 2000, **params, "random_state": seed}
    model = LogisticRegression(**used)
    return Pipeline([("columns", columns), ("model", model)]), used


def _fit_lightgbm(
    encoder: TabularEncoder,
    x: np.ndarray,
    y: np.ndarray,
    valid: pd.DataFrame | None,
    label: str,
    params: dict[str, Any],
    seed: int,
    extra_callbacks: list[Any],
    task: str,
) -> tuple[lgb.Booster, dict[str, Any]]:
    rounds = int(params.pop("num_boost_round", 1000))
    regression = {"objective": "regression"} if task == REGRESSION else {}
    used = {**DEFAULT_LGB_PARAMS, **regression, **params, "seed": seed}
    categorical = list(range(len(encoder.spec.categorical)))
    names = list(encoder.spec.names)
    train_set = lgb.Dataset(x, y, feature_name=names, categorical_feature=categorical)
    callbacks: list[Any] = []
    valid_sets = []
    if valid is not None:
        xv, yv = encoder.encode_frame(valid), _target(valid, label, task)
        valid_sets = [lgb.Dataset(xv, yv, reference=train_set, categorical_feature=categorical)]
        callbacks = [lgb.early_stopping(50, verbose=False), *extra_callbacks]
        used.setdefault("metric", "l2" if task == REGRESSION else "auc")
    booster = lgb.train(
        used, train_set, num_boost_round=rounds, valid_sets=valid_sets, callbacks=callbacks
    )
    return booster, {**used, "num_boost_round": booster.best_iteration or rounds}
