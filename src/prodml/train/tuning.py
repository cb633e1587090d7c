"""Hyperparameter tuning with Optuna: a seeded TPE search within a trial (and optional time)
budget, on a time split of the training rows (the last fifth, never the validation rows the
gate judges), with LightGBM trials pruned round by round when they fall behind the median.
"""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar
from typing import Any

import pandas as pd

from prodml.errors import ConfigError
from prodml.train.encoding import FeatureSpec
from prodml.train.evaluate import classification_metrics, regression_metrics
from prodml.train.model import CLASSIFICATION, fit_model

Space = Callable[[Any], dict[str, Any]]  # an Optuna trial -> parameters

SPACES: dict[str, Space] = {
    "lightgbm": lambda trial: {
        "num_leaves": trial.suggest_int("num_leaves", 15, 255, log=True),
        "learning_rate": trial.suggest_float("learning_rate", 0.02, 0.2, log=True),
        "min_data_in_leaf": trial.suggest_int("min_data_in_leaf", 20, 400, log=True),
        "feature_fraction": trial.suggest_float("feature_fraction", 0.5, 1.0),
        "lambda_l2": trial.suggest_float("lambda_l2", 1e-3, 10.0, log=True),
    },
    "logistic": lambda trial: {"C": trial.suggest_float("C", 1e-3, 1e2, log=True)},
    "ridge": lambda trial: {"alpha": trial.suggest_float("alpha", 1e-3, 1e3, log=True)},
}
# Set by a caller that shows progress (the CLI): called with (trials done, trials planned).
on_trial: ContextVar[Callable[[int, int], None] | None] = ContextVar("on_trial", default=None)


def tune(
    flavor: str,
    train_rows: pd.DataFrame,
    *,
    label: str,
    features: FeatureSpec,
    time_column: str,
    n_trials: int,
    timeout_seconds: float | None = None,
    params: dict[str, Any] | None = None,
    seed: int = 0,
    task: str = CLASSIFICATION,
) -> dict[str, Any]:
    """The best parameters found for `flavor`, with the search's record: the highest ROC AUC
    (classification) or the lowest RMSE (regression) on the held-out part."""
    import optuna

    if flavor not in SPACES:
        raise ConfigError(f"No search space for flavor {flavor!r}; tunable: {sorted(SPACES)}.")
    rows = train_rows.sort_values(time_column, kind="stable")
    cut = int(len(rows) * 0.8)
    fit_part, check_part = rows.iloc[:cut], rows.iloc[cut:]
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        direction="maximize",
        sampler=optuna.samplers.TPESampler(seed=seed),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=20),
    )

    def objective(trial: Any) -> float:
        chosen = {**(params or {}), **SPACES[flavor](trial)}
        model = fit_model(
            flavor,
            fit_part,
            label,
            features,
            valid=check_part,
            params=chosen,
            seed=seed,
            callbacks=[_pruning(trial)] if flavor == "lightgbm" else (),
            task=task,
        )
        scores = model.predict_frame(check_part)
        if task == CLASSIFICATION:
            return classification_metrics(check_part[label], scores)["roc_auc"]
        return -regression_metrics(check_part[label], scores)["rmse"]

    hook = on_trial.get()
    callbacks = [lambda study, _: hook(len(study.trials), n_trials)] if hook else []
    study.optimize(
        objective, n_trials=n_trials, timeout=timeout_seconds, n_jobs=1, callbacks=callbacks
    )
    states = [t.state.name for t in study.trials]
    return {
        "best_params": study.best_params,
        "best_value": study.best_value,
        "objective": "roc_auc" if task == CLASSIFICATION else "-rmse",
        "trials": len(states),
        "pruned": states.count("PRUNED"),
        "tuned_on_rows": len(fit_part),
        "checked_on_rows": len(check_part),
    }


def _pruning(trial: Any) -> Callable[[Any], None]:
    """A LightGBM callback reporting the validation metric each round to the trial."""
    import optuna

    def callback(env: Any) -> None:
        _, _, value, higher_is_better = env.evaluation_result_list[0]
        trial.report(value if higher_is_better else -value, env.iteration)
        if trial.should_prune():
            raise optuna.TrialPruned(f"behind the median at round {env.iteration}")

    return callback
