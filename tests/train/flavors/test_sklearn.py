"""The scikit-learn flavors: any estimator as a candidate, saved and loaded without pickle."""

import collections

import numpy as np
import pytest
import skops.io as sio

from prodml.errors import ConfigError, IntegrityError
from prodml.store.hashing import write_manifest
from prodml.train import TrainedModel, fit_model
from tests._data import TOY_SPEC, toy_frame


def test_any_scikit_learn_classifier_is_a_candidate_saved_without_pickle(tmp_path):

    frame = toy_frame(np.random.default_rng(5), 800)
    params = {"estimator": "sklearn.ensemble.HistGradientBoostingClassifier", "max_iter": 30}
    model = fit_model("sklearn", frame, "y", TOY_SPEC, params=params, seed=3)
    assert model.params == {**params, "random_state": 3}
    model.save(tmp_path)
    loaded = TrainedModel.load(tmp_path)
    assert (loaded.predict_frame(frame) == model.predict_frame(frame)).all()


def test_the_sklearn_flavor_refuses_what_it_cannot_save_safely():

    frame = toy_frame(np.random.default_rng(5), 100)
    with pytest.raises(ConfigError, match="scikit-learn classes only"):
        fit_model("sklearn", frame, "y", TOY_SPEC, params={"estimator": "os.system"})
    with pytest.raises(ConfigError, match="no predict_proba: it must be a classifier"):
        fit_model(
            "sklearn", frame, "y", TOY_SPEC, params={"estimator": "sklearn.linear_model.Ridge"}
        )
    with pytest.raises(ConfigError, match=r"needs params\['estimator'\]"):
        fit_model("sklearn", frame, "y", TOY_SPEC)


def test_an_unexpected_type_inside_a_skops_file_is_refused(tmp_path):
    frame = toy_frame(np.random.default_rng(5), 300)
    logistic = fit_model("logistic", frame, "y", TOY_SPEC)
    logistic.save(tmp_path)
    smuggled = {"model": logistic.estimator, "extra": collections.Counter(a=1)}
    sio.dump(smuggled, tmp_path / "model.skops")
    write_manifest(tmp_path)  # even a consistent manifest does not make a type trusted
    with pytest.raises(
        IntegrityError, match=r"types prodml does not trust \(collections\.Counter\)"
    ):
        TrainedModel.load(tmp_path)
