"""Requests by entity key: the server adds the model's stored features from the online
store, and the answer equals the one for the full row."""

import asyncio
from datetime import UTC, datetime, timedelta

import httpx
import numpy as np
import pytest
from fastapi.testclient import TestClient

from prodml.clock import SimulatedClock
from prodml.features import Entity, FeatureService, FeatureView
from prodml.features.online import open_online_store
from prodml.registry import ModelVersionInfo
from prodml.serve import PredictionLog, Predictor, create_app
from prodml.serve.enrich import Enricher
from prodml.train import fit_model
from tests._data import TOY_SPEC, toy_frame

NOW = datetime(2024, 3, 1, 12, tzinfo=UTC)
SIZES = FeatureView(
    "sizes",
    entity=Entity("item", join_keys=("item",)),
    source="unused.parquet",
    timestamp="ts",
    features=("size",),
    ttl=timedelta(hours=1),
)


@pytest.fixture
def app(tmp_path):
    model = fit_model("logistic", toy_frame(np.random.default_rng(2), 1000), "y", TOY_SPEC)
    info = ModelVersionInfo("toy", "1", "run", "src", ())
    store = open_online_store(f"sqlite:///{tmp_path / 'online.db'}")
    store.write(SIZES, [(("a",), NOW - timedelta(minutes=5), {"size": 0.5})])
    store.write(SIZES, [(("old",), NOW - timedelta(hours=2), {"size": 0.9})])
    clock = SimulatedClock(NOW)
    enricher = Enricher(store, FeatureService("s", views=(SIZES,)), clock)
    log = PredictionLog(tmp_path / "predictions")
    plain = Predictor(model, info)
    yield TestClient(create_app(Predictor(model, info, enricher=enricher), log, clock)), plain, log
    log.close()
    store.close()


def test_keys_are_enough_and_the_answer_equals_the_full_row(app):
    client, plain, log = app
    response = client.post(
        "/v1/predict", json={"rows": [{"color": "red", "noise": None, "item": "a"}]}
    )
    assert response.status_code == 200, response.text
    full = plain.predict([{"color": "red", "size": 0.5, "noise": None}])[0]
    assert response.json()["predictions"][0]["probability"] == pytest.approx(full.score)
    record = log.read().iloc[-1]
    assert record["features"]["size"] == 0.5
    assert record["features"]["sizes__status"] == "fresh"


def test_a_stale_or_unknown_entity_is_served_without_the_feature(app):
    client, plain, log = app
    rows = [{"color": "red", "noise": None, "item": k} for k in ("old", "nobody")]
    response = client.post("/v1/predict", json={"rows": rows})
    assert response.status_code == 200
    missing = plain.predict([{"color": "red", "size": None, "noise": None}])[0]
    for prediction in response.json()["predictions"]:
        assert prediction["probability"] == pytest.approx(missing.score)
    assert list(log.read()["features"].map(lambda f: f["sizes__status"])) == ["stale", "missing"]


def test_the_schema_asks_for_keys_not_stored_features(app):
    client, _, _ = app
    response = client.post(
        "/v1/predict", json={"rows": [{"color": "red", "noise": None, "size": 1}]}
    )
    assert response.status_code == 422
    problems = {tuple(e["loc"][3:]): e["type"] for e in response.json()["detail"]}
    assert problems == {("item",): "missing", ("size",): "extra_forbidden"}


def test_concurrent_requests_share_lookups_and_each_gets_its_own_entity(tmp_path):
    model = fit_model("logistic", toy_frame(np.random.default_rng(2), 1000), "y", TOY_SPEC)
    info = ModelVersionInfo("toy", "1", "run", "src", ())
    store = open_online_store(f"sqlite:///{tmp_path / 'online.db'}")
    sizes = {f"i{n}": n / 20 for n in range(20)}
    store.write(SIZES, [((k,), NOW - timedelta(minutes=1), {"size": v}) for k, v in sizes.items()])
    clock = SimulatedClock(NOW)
    enricher = Enricher(store, FeatureService("s", views=(SIZES,)), clock)
    served, plain = Predictor(model, info, enricher=enricher), Predictor(model, info)
    log = PredictionLog(tmp_path / "predictions")
    app = create_app(served, log, clock)

    async def post_all() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return await asyncio.gather(
                *(
                    client.post(
                        "/v1/predict",
                        json={"rows": [{"color": "red", "noise": None, "item": k}]},
                        headers={"x-request-id": k},
                    )
                    for k in sizes
                )
            )

    responses = asyncio.run(post_all())
    for key, response in zip(sizes, responses, strict=True):
        assert response.status_code == 200, response.text
        own = plain.predict([{"color": "red", "size": sizes[key], "noise": None}])[0]
        assert response.json()["predictions"][0]["probability"] == pytest.approx(own.score)
    logged = log.read()
    stored = logged["features"].map(lambda f: f["size"])
    assert dict(zip(logged["request_id"], stored, strict=True)) == sizes
    batching = enricher.enrich_concurrently
    assert batching.callers == 20
    assert batching.calls < 20
    log.close()
    store.close()
