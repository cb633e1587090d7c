"""POST /v1/explain: predictions with exact TreeSHAP contributions that add up to the
model's raw score; a model that cannot explain says so with a 400, never a 500."""

import numpy as np
import pytest
from fastapi.testclient import TestClient

from prodml.registry import ModelVersionInfo
from prodml.serve import PredictionLog, Predictor, create_app
from prodml.train import fit_model
from tests._data import TOY_SPEC, toy_frame

ROW = {"color": "red", "size": 1.5, "noise": None}


@pytest.fixture
def log(tmp_path):
    log = PredictionLog(tmp_path / "predictions")
    yield log
    log.close()


def _client(model, log, clock):
    return TestClient(
        create_app(Predictor(model, ModelVersionInfo("toy", "1", "r", "s", ())), log, clock)
    )


def test_contributions_add_up_to_the_raw_score_and_are_ranked(toy_lightgbm, log, clock):
    response = _client(toy_lightgbm, log, clock).post("/v1/explain", json={"rows": [ROW]})
    assert response.status_code == 200, response.text
    (answer,) = response.json()["predictions"]
    matrix = toy_lightgbm.encoder.encode_rows([ROW])
    raw = toy_lightgbm.estimator.predict(matrix, raw_score=True)[0]
    full = toy_lightgbm.contributions([ROW])[0]
    assert answer["base_value"] + full[:-1].sum() == pytest.approx(raw)
    shown = [c["contribution"] for c in answer["contributions"]]
    assert shown == sorted(shown, key=abs, reverse=True)
    assert {c["feature"] for c in answer["contributions"]} == {"color", "size", "noise"}
    assert answer["probability"] == pytest.approx(toy_lightgbm.predict_rows([ROW])[0])
    assert log.count() == 1  # an explained prediction is a prediction: it is logged


def test_a_model_without_explanations_answers_400(log, clock):
    model = fit_model("logistic", toy_frame(np.random.default_rng(2), 300), "y", TOY_SPEC)
    response = _client(model, log, clock).post("/v1/explain", json={"rows": [ROW]})
    assert response.status_code == 400
    assert (
        "Explanations need a flavor that computes contributions (LightGBM); this model is logistic"
        in response.json()["detail"][0]["msg"]
    )
    assert log.count() == 0
