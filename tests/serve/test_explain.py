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


def test_predict_with_explain_top_n_gives_that_many_reasons_in_the_same_answer(
    toy_lightgbm, log, clock
):
    client = _client(toy_lightgbm, log, clock)
    plain = client.post("/v1/predict", json={"rows": [ROW]}).json()["predictions"][0]
    response = client.post("/v1/predict?explain=top:2", json={"rows": [ROW, ROW]})
    assert response.status_code == 200, response.text
    for answer in response.json()["predictions"]:
        assert answer["probability"] == pytest.approx(plain["probability"])
        assert len(answer["contributions"]) == 2
        assert {"feature", "value", "contribution"} <= set(answer["contributions"][0])
    assert "contributions" not in plain


@pytest.mark.parametrize("asked", ["yes", "top:0", "top:", "top:x", "all:3", "top:1000"])
def test_a_malformed_explain_parameter_is_refused_with_its_location(
    toy_lightgbm, log, clock, asked
):
    client = _client(toy_lightgbm, log, clock)
    for path in ("/v1/predict", "/v1/explain"):
        response = client.post(f"{path}?explain={asked}", json={"rows": [ROW]})
        assert response.status_code == 422, (path, response.text)
        (entry,) = response.json()["detail"]
        assert entry["loc"] == ["query", "explain"]
        assert "top:N" in entry["msg"]
    assert log.count() == 0


def test_a_logged_prediction_is_explained_again_by_request_id(toy_lightgbm, log, clock):
    client = _client(toy_lightgbm, log, clock)
    rows = [ROW, {"color": "blue", "size": -0.5, "noise": 2.0}]
    answered = client.post("/v1/explain?explain=top:3", json={"rows": rows}).json()
    again = client.get(f"/v1/explain/{answered['request_id']}?explain=top:3")
    assert again.status_code == 200, again.text
    body = again.json()
    assert body["model"] == {"name": "toy", "version": "1"}
    assert [e["row"] for e in body["explanations"]] == [0, 1]
    for first, second in zip(answered["predictions"], body["explanations"], strict=True):
        assert second["base_value"] == pytest.approx(first["base_value"])
        assert second["contributions"] == first["contributions"]
    missing = client.get("/v1/explain/no-such-request")
    assert missing.status_code == 404
    assert "request_id a predict response gave" in missing.json()["detail"][0]["msg"]
