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
from prodml.train.flavors import NAMES, Prunable, Tunable, get_flavor
from prodml.train.model import CLASSIFICATION, fit_model

# Set by a caller that shows progress (the CLI): called with (trials done, trials planned).
on_trial: ContextVar[Callable[[int, int], None] | None] = ContextVar("on_trial", default=None)


def tune(
    flavor: str,
    train_rows: pd.DataFrame,
    *,
    label: str,
    features: FeatureSpec,
    time_column: str | None,
    n_trials: int,
    timeout_seconds: float | None = None,
    params: dict[str, Any] | None = None,
    seed: int = 0,
    task: str = CLASSIFICATION,
) -> dict[str, Any]:
    """The best parameters found for `flavor`, with the search's record: the highest ROC AUC
    (classification) or the lowest RMSE (regression) on the held-out part."""
    import optuna

    implementation = get_flavor(flavor)
    if not isinstance(implementation, Tunable):
        tunable = [n for n in NAMES if isinstance(get_flavor(n), Tunable)]
        raise ConfigError(f"No search space for flavor {flavor!r}; tunable: {tunable}.")
    rows = train_rows if time_column is None else train_rows.sort_values(time_column, kind="stable")
    cut = int(len(rows) * 0.8)
    fit_part, check_part = rows.iloc[:cut], rows.iloc[cut:]
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        direction="maximize",
        sampler=optuna.samplers.TPESampler(seed=seed),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=20),
    )

    def objective(trial: Any) -> float:
        chosen = {**(params or {}), **implementation.search_space(trial)}
        model = fit_model(
            flavor,
            fit_part,
            label,
            features,
            valid=check_part,
            params=chosen,
            seed=seed,
            callbacks=(
                [implementation.pruning_callback(trial)]
                if isinstance(implementation, Prunable)
                else ()
            ),
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
