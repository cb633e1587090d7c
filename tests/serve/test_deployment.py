import threading

import numpy as np
import pytest
from fastapi.testclient import TestClient

from prodml.registry import ModelVersionInfo
from prodml.serve import PredictionLog, Predictor, create_app
from prodml.serve.deployment import Deployment
from prodml.serve.policy import Policy
from prodml.train import fit_model
from tests._data import TOY_SPEC, toy_frame

ROW = {"color": "red", "size": 0.5, "noise": None}


def _predictor(version: str, seed: int) -> Predictor:
    model = fit_model("logistic", toy_frame(np.random.default_rng(seed), 500), "y", TOY_SPEC)
    return Predictor(model, ModelVersionInfo("toy", version, "r", "s", ("champion",)))


@pytest.fixture
def versions():
    return {"1": _predictor("1", 1), "2": _predictor("2", 2)}


def test_the_server_follows_the_alias_and_logs_each_version(versions, tmp_path, clock):
    alias = {"at": "1"}
    deployment = Deployment(
        versions["1"], resolve=lambda: Policy.single("toy", alias["at"]), load=versions.__getitem__
    )
    log = PredictionLog(tmp_path)
    client = TestClient(create_app(deployment, log, clock))
    assert client.post("/v1/predict", json={"rows": [ROW]}).json()["model"]["version"] == "1"
    alias["at"] = "2"
    event = deployment.check()
    assert event is not None
    assert event.ok
    answer = client.post("/v1/predict", json={"rows": [ROW]}).json()
    assert answer["model"]["version"] == "2"
    expected = versions["2"].scores([ROW])[0]
    assert answer["predictions"][0]["probability"] == pytest.approx(expected)
    assert log.read()["version"].tolist() == ["1", "2"]
    assert client.get("/readyz").json()["version"] == "2"
    assert 'prodml_model_swaps_total{outcome="ok"} 1.0' in client.get("/metrics").text
    log.close()


def test_a_version_that_fails_its_smoke_test_is_never_served(versions, clock, monkeypatch):
    broken = _predictor("3", 3)
    monkeypatch.setattr(broken.model, "predict_rows", lambda rows: np.full(len(rows), np.nan))
    deployment = Deployment(
        versions["1"], resolve=lambda: Policy.single("toy", "3"), load={"3": broken}.__getitem__
    )
    event = deployment.check()
    assert event is not None
    assert not event.ok
    assert "scored nan on a row of missing values" in event.reason
    assert deployment.current is versions["1"]
    assert deployment.check() is None  # not retried until the alias moves again


def test_a_request_in_flight_finishes_on_the_version_it_started_on(versions, tmp_path, clock):
    entered, release = threading.Event(), threading.Event()
    slow = versions["1"]
    original = slow.predict

    def paused(rows):
        entered.set()
        release.wait(10)
        return original(rows)

    slow.predict = paused  # type: ignore[method-assign]
    alias = {"at": "1"}
    deployment = Deployment(
        slow, resolve=lambda: Policy.single("toy", alias["at"]), load=versions.__getitem__
    )
    log = PredictionLog(tmp_path)
    client = TestClient(create_app(deployment, log, clock))
    answers = {}
    request = threading.Thread(
        target=lambda: answers.update(client.post("/v1/predict", json={"rows": [ROW]}).json())
    )
    request.start()
    assert entered.wait(10)
    alias["at"] = "2"
    assert deployment.check().ok  # swapped while the request is inside the old version
    release.set()
    request.join(10)
    assert answers["model"]["version"] == "1"
    assert client.post("/v1/predict", json={"rows": [ROW]}).json()["model"]["version"] == "2"
    log.close()
