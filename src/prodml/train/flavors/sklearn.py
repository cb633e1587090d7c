"""scikit-learn estimators, saved with skops and loaded only with a list of trusted types.

The baselines (`majority`, `logistic` for a classifier; `mean`, `ridge` for a value) and
`sklearn` (any scikit-learn estimator, named by its class path in `params["estimator"]`)
are fitted on the encoded matrix behind one-hot encoding and scaling. A scikit-learn
estimator or `Pipeline` fitted elsewhere (a notebook) is kept as it is, flavor `sklearn`.
"""

from __future__ import annotations

import importlib
import inspect
from abc import abstractmethod
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import skops.io as sio

from prodml.errors import ConfigError, IntegrityError
from prodml.train.encoding import FeatureSpec
from prodml.train.flavors.base import CLASSIFICATION, REGRESSION, Flavor

_FILE = "model.skops"
# Modules whose types a saved estimator may hold: scikit-learn's own, numpy's and SciPy's
# (arrays, sparse matrices), LightGBM's scikit-learn API inside a Pipeline. Anything else
# (a user's class, a lambda in a FunctionTransformer) is refused before it is loaded.
_TRUSTED_MODULES = ("sklearn.", "numpy.", "scipy.", "lightgbm.")
# A partial's function is listed as a type of its own (and checked like the rest), so
# trusting the partial trusts nothing new: HistGradientBoosting keeps one of check_array.
_TRUSTED_BUILTINS = ("builtins.slice", "functools.partial")


class _Skops(Flavor):
    """Scoring and the pickle-free file format every scikit-learn flavor shares."""

    def predict(self, estimator: Any, x: Any, *, task: str, num_threads: int = 1) -> np.ndarray:
        if task == CLASSIFICATION:
            return np.asarray(estimator.predict_proba(x)[:, 1], dtype=float)
        return np.asarray(estimator.predict(x), dtype=float)

    def save(self, estimator: Any, folder: Path) -> None:
        sio.dump(estimator, folder / _FILE)

    def load(self, folder: Path, *, what: str) -> Any:
        file = folder / _FILE
        return sio.load(file, trusted=trusted_types(file, what))

    def fit(
        self,
        x: np.ndarray,
        y: np.ndarray,
        *,
        spec: FeatureSpec,
        task: str,
        params: Mapping[str, Any],
        seed: int,
        valid: tuple[np.ndarray, np.ndarray] | None = None,
        callbacks: Sequence[Any] = (),
    ) -> tuple[Any, dict[str, Any]]:
        estimator, used = self.build(spec, dict(params), seed, task)
        estimator.fit(x, y)
        return estimator, used

    @abstractmethod
    def build(
        self, spec: FeatureSpec, params: dict[str, Any], seed: int, task: str
    ) -> tuple[Any, dict[str, Any]]:
        """The unfitted estimator and the parameters it is built with."""


class Majority(_Skops):
    """The base rate: every row scored as the training share of positives."""

    name = "majority"
    tasks: ClassVar[tuple[str, ...]] = (CLASSIFICATION,)

    def build(
        self, spec: FeatureSpec, params: dict[str, Any], seed: int, task: str
    ) -> tuple[Any, dict[str, Any]]:
        from sklearn.dummy import DummyClassifier

        return DummyClassifier(strategy="prior"), {"strategy": "prior"}


class Mean(_Skops):
    """The training mean, for every row."""

    name = "mean"
    tasks: ClassVar[tuple[str, ...]] = (REGRESSION,)

    def build(
        self, spec: FeatureSpec, params: dict[str, Any], seed: int, task: str
    ) -> tuple[Any, dict[str, Any]]:
        from sklearn.dummy import DummyRegressor

        return DummyRegressor(strategy="mean"), {"strategy": "mean"}


class Logistic(_Skops):
    """L2-regularized logistic regression on one-hot categoricals and scaled numerics."""

    name = "logistic"
    tasks: ClassVar[tuple[str, ...]] = (CLASSIFICATION,)

    def build(
        self, spec: FeatureSpec, params: dict[str, Any], seed: int, task: str
    ) -> tuple[Any, dict[str, Any]]:
        from sklearn.linear_model import LogisticRegression

        used = {"C": 1.0, "max_iter": 2000, **params, "random_state": seed}
        return _on_encoded(spec, LogisticRegression(**used)), used

    def search_space(self, trial: Any) -> dict[str, Any]:
        return {"C": trial.suggest_float("C", 1e-3, 1e2, log=True)}


class Ridge(_Skops):
    """L2-regularized linear regression on one-hot categoricals and scaled numerics."""

    name = "ridge"
    tasks: ClassVar[tuple[str, ...]] = (REGRESSION,)

    def build(
        self, spec: FeatureSpec, params: dict[str, Any], seed: int, task: str
    ) -> tuple[Any, dict[str, Any]]:
        from sklearn.linear_model import Ridge as RidgeRegression

        used = {"alpha": 1.0, **params}
        return _on_encoded(spec, RidgeRegression(**used)), used

    def search_space(self, trial: Any) -> dict[str, Any]:
        return {"alpha": trial.suggest_float("alpha", 1e-3, 1e3, log=True)}


class AnyEstimator(_Skops):
    """Any scikit-learn estimator: fitted by prodml from `params["estimator"]` (a class
    path such as sklearn.ensemble.HistGradientBoostingClassifier), or fitted elsewhere."""

    name = "sklearn"
    ready = False  # needs params["estimator"]

    def build(
        self, spec: FeatureSpec, params: dict[str, Any], seed: int, task: str
    ) -> tuple[Any, dict[str, Any]]:
        path = params.pop("estimator", None)
        if not path:
            raise ConfigError(
                "the sklearn flavor needs params['estimator'], a scikit-learn class path, "
                "e.g. sklearn.ensemble.HistGradientBoostingClassifier."
            )
        cls = _sklearn_class(path, task)
        if "random_state" in inspect.signature(cls).parameters:
            params["random_state"] = seed
        return _on_encoded(spec, cls(**params)), {"estimator": path, **params}


def _on_encoded(spec: FeatureSpec, model: Any) -> Any:
    """`model` behind one-hot codes (the encoder's first columns) and scaled numerics."""
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline, make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

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
    return Pipeline([("columns", columns), ("model", model)])


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


def trusted_types(file: Path, what: str) -> list[str]:
    """The types `file` holds, if every one is from a trusted module; otherwise refused
    before anything in it is loaded."""
    found = sio.get_untrusted_types(file=file)
    foreign = [t for t in found if not t.startswith(_TRUSTED_MODULES + _TRUSTED_BUILTINS)]
    if foreign:
        raise IntegrityError(
            f"{what}: {file.name} holds types prodml does not trust ({', '.join(foreign)}); "
            "refusing to load it. Only scikit-learn, numpy, SciPy and LightGBM types load: "
            "replace custom classes and functions in the pipeline by scikit-learn's own."
        )
    return found
