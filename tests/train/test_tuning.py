"""Optuna tuning: seeded and so repeatable, within its budget, on training rows only, and
its best parameters reach the fitted model."""

import pytest

from prodml.errors import ConfigError
from prodml.train.tabular import Candidate
from prodml.train.tuning import tune
from tests._data import TOY_SPEC, nonlinear_examples, toy_train, toy_train_spec


def _tune(**changes):
    rows = nonlinear_examples(2000)
    args = {
        "label": "y",
        "features": TOY_SPEC,
        "time_column": "at",
        "n_trials": 6,
        "params": {"num_boost_round": 60},
    }
    return tune("lightgbm", rows, **{**args, **changes})


def test_a_seeded_search_is_repeatable_and_within_budget():
    first, again = _tune(), _tune()
    assert first == again
    assert first["trials"] == 6
    assert set(first["best_params"]) == {
        "num_leaves",
        "learning_rate",
        "min_data_in_leaf",
        "feature_fraction",
        "lambda_l2",
    }
    assert 0.5 < first["best_value"] <= 1.0
    assert first["tuned_on_rows"] + first["checked_on_rows"] == 2000


def test_an_untunable_flavor_is_refused():
    with pytest.raises(ConfigError, match=r"No search space for flavor 'majority'"):
        tune(
            "majority",
            nonlinear_examples(200),
            label="y",
            features=TOY_SPEC,
            time_column="at",
            n_trials=1,
        )


def test_the_pipeline_fits_with_the_tuned_parameters(workspace):
    tuned = Candidate("lightgbm", "lightgbm", {"num_boost_round": 60}, n_trials=4)
    result = toy_train(workspace, toy_train_spec(candidates=(tuned,)), nonlinear_examples())
    assert "tune_lightgbm" in result.pipeline.ran
    best = result.evaluations["lightgbm"]["tuning"]["best_params"]
    assert result.models["lightgbm"].params["num_leaves"] == best["num_leaves"]


def test_a_regression_is_tuned_for_rmse_and_progress_is_reported():
    from prodml.train.tuning import on_trial

    rows = nonlinear_examples(1500)
    rows["minutes"] = 30 * rows["size"].abs()
    seen = []
    token = on_trial.set(lambda done, planned: seen.append((done, planned)))
    try:
        found = tune(
            "ridge",
            rows,
            label="minutes",
            features=TOY_SPEC,
            time_column="at",
            n_trials=3,
            task="regression",
        )
    finally:
        on_trial.reset(token)
    assert found["objective"] == "-rmse"
    assert found["best_value"] < 0
    assert set(found["best_params"]) == {"alpha"}
    assert seen == [(1, 3), (2, 3), (3, 3)]
