"""A model fitted elsewhere (a notebook's estimator, `Pipeline` or LightGBM model) taken in
as a `TrainedModel`, so registry, serving, scoring and monitoring treat it like their own.

It keeps reading the columns it was fitted on: the frame `X` it is given here fixes their
names, order and dtypes, and which of them are categorical for the request schema.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from prodml.errors import ConfigError
from prodml.train.encoding import FeatureSpec, TabularEncoder
from prodml.train.flavors import BASELINES, CLASSIFICATION, REGRESSION
from prodml.train.model import TrainedModel


def adopt(model: Any, x: pd.DataFrame) -> TrainedModel:
    """`model`, already fitted on frames like `x`, as a `TrainedModel`.

    Takes a fitted scikit-learn estimator or `Pipeline` (ColumnTransformer,
    HistGradientBoosting* and the like included), a `lightgbm.Booster`, or an
    `LGBMClassifier`/`LGBMRegressor`. A classifier must be binary.
    """
    if not isinstance(x, pd.DataFrame):
        raise ConfigError(
            f"X must be a pandas DataFrame of the columns the model was fitted on (names "
            f"are its request fields). Got {type(x).__name__} instead; wrap an array as "
            "pd.DataFrame(X, columns=[...])."
        )
    from prodml.train.flavors.lightgbm import booster_of

    booster = booster_of(model)
    if booster is not None:
        flavor, estimator = "lightgbm", booster
        task = _lightgbm_task(booster)
        classes = getattr(model, "classes_", None)
    else:
        flavor, estimator = "sklearn", model
        task, classes = _sklearn_task(model)
    columns = _columns(model, x)
    frame = x[columns]
    spec = FeatureSpec(
        categorical=tuple(c for c in columns if _is_categorical(frame[c])),
        numeric=tuple(c for c in columns if not _is_categorical(frame[c])),
    )
    return TrainedModel(
        flavor,
        TabularEncoder(spec).fit(frame),
        estimator,
        _params(model),
        task=task,
        frame_dtypes={c: str(frame[c].dtype) for c in columns},
        positive_class=_positive_class(classes),
    )


def _sklearn_task(model: Any) -> tuple[str, Any]:
    from sklearn.base import is_classifier
    from sklearn.utils.validation import NotFittedError, check_is_fitted

    if not hasattr(model, "predict"):
        raise ConfigError(
            f"{type(model).__name__} is not a model: register a fitted scikit-learn estimator "
            "or Pipeline, or a LightGBM model."
        )
    try:
        check_is_fitted(model)
    except NotFittedError:
        raise ConfigError(
            f"{type(model).__name__} is not fitted yet: call .fit(X, y) before registering it."
        ) from None
    if is_classifier(model) or hasattr(model, "predict_proba"):
        classes = getattr(model, "classes_", None)
        if classes is None or len(classes) != 2:
            raise ConfigError(
                f"{type(model).__name__} predicts {0 if classes is None else len(classes)} "
                "classes; prodml serves binary classifiers and regressors. Recode the label "
                "to two classes."
            )
        return CLASSIFICATION, classes
    return REGRESSION, None  # anything else that predicts predicts a value


def _lightgbm_task(booster: Any) -> str:
    objective = str(booster.params.get("objective", "")) or booster.dump_model()["objective"]
    if objective.startswith(("binary", "cross_entropy", "xentropy")):
        return CLASSIFICATION
    if objective.startswith(("multiclass", "softmax", "multiclassova", "lambdarank")):
        raise ConfigError(
            f"The LightGBM model's objective is {objective!r}; prodml serves binary "
            "classifiers and regressors."
        )
    return REGRESSION


def _columns(model: Any, x: pd.DataFrame) -> list[str]:
    """The columns the model reads, in its order: what it recorded at fit, else all of `x`."""
    names = getattr(model, "feature_names_in_", None)
    if names is None and hasattr(model, "feature_name"):  # a lightgbm.Booster
        names = model.feature_name()
    elif names is None and hasattr(model, "feature_name_"):  # LightGBM's scikit-learn API
        names = model.feature_name_
    columns = [str(c) for c in (names if names is not None else x.columns)]
    missing = [c for c in columns if c not in x.columns]
    if missing:
        raise ConfigError(
            f"The model was fitted on column(s) {missing} that X lacks; pass the frame it "
            "was fitted on (or rows like it)."
        )
    return columns


def _is_categorical(values: pd.Series) -> bool:
    return not (pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values))


def _positive_class(classes: Any) -> Any:
    """What a score of 1 stands for: None when the classes are already 0 and 1."""
    if classes is None:
        return None
    positive = classes[1]
    if isinstance(positive, np.generic):
        positive = positive.item()
    return None if positive in (1, True) and classes[0] in (0, False) else positive


def _params(model: Any) -> dict[str, Any]:
    """The estimator's parameters as text, for tracking and the card (nested estimators by
    class name, so nothing unpicklable or huge is recorded)."""
    if not hasattr(model, "get_params"):
        return {"estimator": type(model).__name__}
    found = model.get_params(deep=False)
    return {"estimator": type(model).__name__} | {
        k: v if isinstance(v, bool | int | float | str | None) else type(v).__name__
        for k, v in found.items()
    }


@dataclass
class Judgement:
    """How a fitted model did on held-out rows against baselines and the champion."""

    metric: str
    evaluations: dict[str, dict[str, Any]]  # model name -> {"metrics": ..., "rows": ...}
    gate: dict[str, Any]


def judge(
    model: TrainedModel,
    x: pd.DataFrame,
    y: Any,
    *,
    name: str,
    champion: tuple[str, TrainedModel] | None,
    now: datetime,
    margin: float = 0.01,
    seed: int = 0,
    folds: int = 5,
) -> Judgement:
    """Score `model` on rows it was not fitted on (`x`, truth `y`) and gate it: it must beat
    each baseline, whose scores are cross-fitted on the same rows (out of fold, so neither
    side saw a row it is judged on), and not fall behind the `champion` by `margin`."""
    from prodml.train.evaluate import classification_metrics, regression_metrics
    from prodml.train.gate import gate

    target = encode_target(model, y, len(x))
    frame = x.reset_index(drop=True).assign(**{_TARGET: target})
    scores = {name: model.predict_frame(frame)}
    for baseline in BASELINES[model.task]:
        scores[baseline] = _out_of_fold(baseline, frame, model, folds, seed)
    measure = classification_metrics if model.task == CLASSIFICATION else regression_metrics
    evaluations = {
        n: {"metrics": measure(target, s), "rows": len(frame)} for n, s in scores.items()
    }
    metric_name = "roc_auc" if model.task == CLASSIFICATION else "rmse"
    report = gate(
        target,
        (name, scores[name]),
        baselines={b: scores[b] for b in BASELINES[model.task]},
        champion=None if champion is None else (champion[0], champion[1].predict_frame(frame)),
        metric_name=metric_name,
        margin=margin,
        now=now,
        seed=seed,
    ).to_dict()
    return Judgement(metric_name, evaluations, report)


def encode_target(model: TrainedModel, y: Any, rows: int) -> np.ndarray:
    """The truth as the model scores it: 1 for its positive class, else 0 (classification),
    or the value; refused, naming what was wrong, if it does not fit."""
    values = pd.Series(np.asarray(y))
    if len(values) != rows:
        raise ConfigError(f"y has {len(values)} values for {rows} rows of X; give one per row.")
    if values.isna().any():
        raise ConfigError(
            f"y holds {int(values.isna().sum())} missing value(s), first at row "
            f"{int(values.isna().to_numpy().argmax())}; drop those rows from X and y."
        )
    if model.task == REGRESSION:
        return values.astype(float).to_numpy()
    positive = 1 if model.positive_class is None else model.positive_class
    classes = set(values.unique().tolist())
    if len(classes - {positive}) > 1:
        raise ConfigError(
            f"y holds {sorted(map(str, classes))}: a binary classifier's truth has two values, "
            f"{positive!r} for the positive class."
        )
    return (values == positive).astype(float).to_numpy()


_TARGET = "__prodml_target"


def _out_of_fold(
    baseline: str, frame: pd.DataFrame, model: TrainedModel, folds: int, seed: int
) -> np.ndarray:
    from sklearn.model_selection import KFold, StratifiedKFold

    from prodml.train.model import fit_model

    splitter = (
        StratifiedKFold(folds, shuffle=True, random_state=seed)
        if model.task == CLASSIFICATION
        else KFold(folds, shuffle=True, random_state=seed)
    )
    out = np.empty(len(frame))
    for fit_rows, held in splitter.split(frame, frame[_TARGET]):
        fitted = fit_model(
            baseline, frame.iloc[fit_rows], _TARGET, model.spec, seed=seed, task=model.task
        )
        out[held] = fitted.predict_frame(frame.iloc[held])
    return out
