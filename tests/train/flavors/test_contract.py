"""The contract every model flavor keeps, run on every flavor and on models fitted
elsewhere (in the spirit of scikit-learn's `check_estimator`): what is saved loads back
scoring bit for bit, a fixed seed gives the same model, and the input schema is enforced."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest

from prodml.errors import DataValidationError
from prodml.train import TrainedModel, fit_model
from prodml.train.adopt import adopt
from prodml.train.flavors import NAMES, REGRESSION, get_flavor
from tests._data import TOY_SPEC, toy_frame

_PARAMS = {"sklearn": {"estimator": "sklearn.ensemble.HistGradientBoostingClassifier"}}
_REGRESSION_PARAMS = {"sklearn": {"estimator": "sklearn.ensemble.HistGradientBoostingRegressor"}}
FEATURES = list(TOY_SPEC.names)


def _frame(seed: int = 7, n: int = 1500) -> pd.DataFrame:
    frame = toy_frame(np.random.default_rng(seed), n=n)
    frame["value"] = 2 * frame["size"] + (frame["color"] == "red") + frame["noise"].fillna(0)
    return frame


def _fit(flavor: str, task: str, seed: int = 3) -> Callable[[], TrainedModel]:
    def build() -> TrainedModel:
        frame = _frame()
        label = "value" if task == REGRESSION else "y"
        params = (_REGRESSION_PARAMS if task == REGRESSION else _PARAMS).get(flavor, {})
        train, valid = frame.iloc[:1000], frame.iloc[1000:]
        return fit_model(
            flavor, train, label, TOY_SPEC, valid=valid, params=params, seed=seed, task=task
        )

    return build


def _notebook_pipeline() -> TrainedModel:
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder

    frame = _frame()
    pipeline = make_pipeline(
        ColumnTransformer(
            [
                ("cat", OneHotEncoder(handle_unknown="ignore"), ["color"]),
                ("num", SimpleImputer(), ["size", "noise"]),
            ]
        ),
        LogisticRegression(),
    ).fit(frame[FEATURES], frame["y"])
    return adopt(pipeline, frame[FEATURES])


def _notebook_histgradient() -> TrainedModel:
    from sklearn.ensemble import HistGradientBoostingClassifier

    frame = _frame()
    x = frame[FEATURES].astype({"color": "category"})
    model = HistGradientBoostingClassifier(
        categorical_features="from_dtype", max_iter=30, random_state=0
    ).fit(x, frame["y"])
    return adopt(model, x)


def _notebook_lightgbm() -> TrainedModel:
    import lightgbm as lgb

    frame = _frame()
    x = frame[FEATURES].astype({"color": "category"})
    model = lgb.LGBMClassifier(n_estimators=30, verbose=-1).fit(x, frame["y"])
    return adopt(model, x)


BUILDERS: dict[str, Callable[[], TrainedModel]] = {
    **{f"{name}-{task}": _fit(name, task) for name in NAMES for task in get_flavor(name).tasks},
    "notebook-pipeline": _notebook_pipeline,
    "notebook-histgradientboosting": _notebook_histgradient,
    "notebook-lightgbm": _notebook_lightgbm,
}


@pytest.fixture(scope="module", params=sorted(BUILDERS))
def model(request) -> TrainedModel:
    return BUILDERS[request.param]()


def _rows(frame: pd.DataFrame) -> list[dict]:
    return [
        {k: (None if v != v else v) for k, v in r.items()}
        for r in frame[FEATURES].to_dict("records")
    ]


def test_save_and_load_score_bit_for_bit(model, tmp_path):
    frame = _frame(seed=11, n=300)
    model.save(tmp_path)
    loaded = TrainedModel.load(tmp_path)
    assert (loaded.flavor, loaded.task, loaded.spec) == (model.flavor, model.task, model.spec)
    np.testing.assert_array_equal(loaded.predict_frame(frame), model.predict_frame(frame))
    np.testing.assert_array_equal(loaded.predict_rows(_rows(frame)), model.predict_frame(frame))


def test_rows_from_json_score_as_the_frame_does(model):
    frame = _frame(seed=12, n=200)
    np.testing.assert_array_equal(model.predict_rows(_rows(frame)), model.predict_frame(frame))


def test_scores_are_finite_and_probabilities_in_range(model):
    scores = model.predict_frame(_frame(seed=13, n=300))
    assert np.isfinite(scores).all()
    if model.task != REGRESSION:
        assert ((scores >= 0) & (scores <= 1)).all()


def test_a_missing_input_column_is_named(model):
    frame = _frame(seed=14, n=10).drop(columns=["size"])
    with pytest.raises(DataValidationError, match=r"lack the model's input column\(s\) \['size'\]"):
        model.predict_frame(frame)


def test_unseen_categories_and_missing_values_score_instead_of_failing(model):
    rows = [
        {"color": "ultraviolet", "size": 0.5, "noise": None},
        dict.fromkeys(FEATURES),
    ]
    assert np.isfinite(model.predict_rows(rows)).all()


@pytest.mark.parametrize("built", [b for b in sorted(BUILDERS) if not b.startswith("notebook")])
def test_a_fixed_seed_fits_the_same_model(built):
    frame = _frame(seed=15, n=300)
    first, second = BUILDERS[built](), BUILDERS[built]()
    np.testing.assert_array_equal(first.predict_frame(frame), second.predict_frame(frame))


@pytest.mark.parametrize("name", [n for n in NAMES if len(get_flavor(n).tasks) == 1])
def test_a_flavor_refuses_a_task_it_cannot_fit(name):
    other = [t for t in ("classification", "regression") if t not in get_flavor(name).tasks]
    with pytest.raises(ValueError, match=f"flavor '{name}' fits .* only"):
        fit_model(name, _frame(n=100), "y", TOY_SPEC, task=other[0])
