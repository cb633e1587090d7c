"""Calibration only when it helps, judged on rows it was not fitted on, and carried by the
model through save and load."""

import numpy as np
import pytest

from prodml.train import calibration, fit_model
from prodml.train.model import TrainedModel
from tests._data import TOY_SPEC, toy_frame

RNG = np.random.default_rng(0)
TRUE = RNG.uniform(size=6000)
Y = (RNG.uniform(size=6000) < TRUE).astype(int)


def test_squashed_scores_are_calibrated_and_the_brier_score_drops():
    squashed = 0.3 + 0.4 * TRUE  # right order, wrong scale
    decision = calibration.decide(squashed, Y)
    assert decision["method"] == "isotonic"
    assert decision["brier_calibrated_held_out"] < 0.95 * decision["brier_raw"]
    fixed = calibration.apply(decision["map"], squashed)
    assert np.mean((fixed - Y) ** 2) < np.mean((squashed - Y) ** 2)


def test_calibrated_scores_are_left_alone():
    decision = calibration.decide(TRUE, Y)
    assert decision["method"] is None
    assert decision["map"] is None
    assert calibration.apply(None, TRUE) is TRUE


def test_a_model_keeps_its_calibration_through_save_and_load(tmp_path):
    model = fit_model("logistic", toy_frame(np.random.default_rng(1), 500), "y", TOY_SPEC)
    frame = toy_frame(np.random.default_rng(2), 50)
    raw = model.predict_frame(frame)
    shifted = TrainedModel(
        model.flavor,
        model.encoder,
        model.estimator,
        model.params,
        {"x": [0.0, 1.0], "y": [0.1, 0.2]},
    )
    shifted.save(tmp_path)
    loaded = TrainedModel.load(tmp_path)
    assert loaded.calibration == {"x": [0.0, 1.0], "y": [0.1, 0.2]}
    assert loaded.predict_frame(frame) == pytest.approx(0.1 + 0.1 * raw)
