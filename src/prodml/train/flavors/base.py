"""The interface every model flavor implements, and the optional abilities some add.

A flavor knows one kind of estimator: how to fit it on encoded rows, score rows, and keep
it on disk without pickle. Everything else (encoding, calibration, conformal sets, the
manifest) is the flavor-free `TrainedModel` around it. Optional abilities are small
protocols a flavor may also satisfy, checked with `isinstance`, never by name.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar, Protocol, runtime_checkable

import numpy as np

from prodml.train.encoding import FeatureSpec

CLASSIFICATION, REGRESSION = "classification", "regression"
TASKS = (CLASSIFICATION, REGRESSION)


class Flavor(ABC):
    """Fit, score, save and load one kind of estimator.

    `x` is what the model reads: the encoded float matrix for models prodml fits, or a
    DataFrame of the original columns for a model fitted elsewhere (see `TrainedModel`).
    """

    name: ClassVar[str]
    tasks: ClassVar[tuple[str, ...]] = TASKS
    # True if `fit` uses `valid` to stop early: training then holds out rows for it.
    stops_early: ClassVar[bool] = False
    # False if it cannot be fitted without parameters (which estimator, say).
    ready: ClassVar[bool] = True

    @abstractmethod
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
        """The fitted estimator and the parameters it was built with (what is tracked);
        `valid` (encoded rows, target) is for early stopping where the flavor has it."""

    @abstractmethod
    def predict(self, estimator: Any, x: Any, *, task: str, num_threads: int = 1) -> np.ndarray:
        """The positive class's probability (classification) or the value (regression)."""

    @abstractmethod
    def save(self, estimator: Any, folder: Path) -> None:
        """Write `estimator` into `folder` (no pickle)."""

    @abstractmethod
    def load(self, folder: Path, *, what: str) -> Any:
        """Read back what `save` wrote; `what` names the model in error messages."""


@runtime_checkable
class Tunable(Protocol):
    """A flavor with an Optuna search space."""

    def search_space(self, trial: Any) -> dict[str, Any]: ...


@runtime_checkable
class Prunable(Protocol):
    """A flavor that reports a metric per boosting round, so a tuning trial can be pruned."""

    def pruning_callback(self, trial: Any) -> Any: ...


@runtime_checkable
class Explains(Protocol):
    """A flavor with exact per-feature contributions (e.g. TreeSHAP)."""

    def contributions(self, estimator: Any, x: Any) -> np.ndarray:
        """One row of len(features) + 1 per row of `x`: each feature's part, then the base."""
        ...


class RowScorer(Protocol):
    """Scores one row packed as native float64s (`TabularEncoder.pack_row`)."""

    def predict(self, row: bytes) -> float: ...


@runtime_checkable
class ScoresOneRow(Protocol):
    """A flavor with a faster path for a single request row than its batch `predict`."""

    def one_row(self, estimator: Any, n_features: int) -> RowScorer: ...
