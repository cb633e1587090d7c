"""LightGBM: gradient-boosted trees, saved in LightGBM's own text format.

It early-stops on validation rows, reports each round to a tuning trial, explains with
exact TreeSHAP (`pred_contrib`) and scores a single row through the C API's fast path.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np

from prodml.train.encoding import FeatureSpec
from prodml.train.flavors.base import REGRESSION, Flavor, RowScorer

_FILE = "model.txt"
# `pred_contrib` is not thread-safe in LightGBM: one explanation at a time.
_CONTRIB_LOCK = threading.Lock()
DEFAULT_PARAMS: dict[str, Any] = {
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


class LightGBM(Flavor):
    name = "lightgbm"
    stops_early = True

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
    ) -> tuple[lgb.Booster, dict[str, Any]]:
        params = dict(params)
        rounds = int(params.pop("num_boost_round", 1000))
        regression = {"objective": "regression"} if task == REGRESSION else {}
        used = {**DEFAULT_PARAMS, **regression, **params, "seed": seed}
        categorical = list(range(len(spec.categorical)))
        train_set = lgb.Dataset(
            x, y, feature_name=list(spec.names), categorical_feature=categorical
        )
        valid_sets, every_round = [], []
        if valid is not None:
            valid_sets = [lgb.Dataset(*valid, reference=train_set, categorical_feature=categorical)]
            every_round = [lgb.early_stopping(50, verbose=False), *callbacks]
            used.setdefault("metric", "l2" if task == REGRESSION else "auc")
        booster = lgb.train(
            used, train_set, num_boost_round=rounds, valid_sets=valid_sets, callbacks=every_round
        )
        return booster, {**used, "num_boost_round": booster.best_iteration or rounds}

    def predict(
        self, estimator: lgb.Booster, x: Any, *, task: str, num_threads: int = 1
    ) -> np.ndarray:
        return np.asarray(estimator.predict(x, num_threads=num_threads), dtype=float)

    def save(self, estimator: lgb.Booster, folder: Path) -> None:
        estimator.save_model(str(folder / _FILE))

    def load(self, folder: Path, *, what: str) -> lgb.Booster:
        return lgb.Booster(model_file=str(folder / _FILE))

    def contributions(self, estimator: lgb.Booster, x: Any) -> np.ndarray:
        with _CONTRIB_LOCK:
            return np.asarray(estimator.predict(x, pred_contrib=True, num_threads=1))

    def one_row(self, estimator: lgb.Booster, n_features: int) -> RowScorer:
        from prodml.train.flavors._fastpath import SingleRowBooster

        return SingleRowBooster(estimator, n_features)

    def search_space(self, trial: Any) -> dict[str, Any]:
        return {
            "num_leaves": trial.suggest_int("num_leaves", 15, 255, log=True),
            "learning_rate": trial.suggest_float("learning_rate", 0.02, 0.2, log=True),
            "min_data_in_leaf": trial.suggest_int("min_data_in_leaf", 20, 400, log=True),
            "feature_fraction": trial.suggest_float("feature_fraction", 0.5, 1.0),
            "lambda_l2": trial.suggest_float("lambda_l2", 1e-3, 10.0, log=True),
        }

    def pruning_callback(self, trial: Any) -> Any:
        """Reports the validation metric each round to the trial; prunes when behind."""
        import optuna

        def callback(env: Any) -> None:
            _, _, value, higher_is_better = env.evaluation_result_list[0]
            trial.report(value if higher_is_better else -value, env.iteration)
            if trial.should_prune():
                raise optuna.TrialPruned(f"behind the median at round {env.iteration}")

        return callback


def booster_of(model: Any) -> lgb.Booster | None:
    """The booster of a LightGBM model fitted elsewhere (a Booster or the scikit-learn
    API's LGBMClassifier/LGBMRegressor), or None if `model` is neither."""
    if isinstance(model, lgb.Booster):
        return model
    if isinstance(model, lgb.LGBMModel):
        return model.booster_
    return None
