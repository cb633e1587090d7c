import json

import numpy as np
import pytest
from fastapi.testclient import TestClient

from prodml.registry import ModelVersionInfo
from prodml.serve import PredictionLog, Predictor, create_app
from prodml.store import MetadataStore
from prodml.train import fit_model
from tests._data import TOY_SPEC, toy_frame

ROW = {"color": "red", "size": 0.5, "noise": None}


@pytest.fixture(scope="module")
def predictor():
    model = fit_model("logistic", toy_frame(np.random.default_rng(2), 1000), "y", TOY_SPEC)
    info = ModelVersionInfo("toy", "3", "run", "src", ("champion",))
    return Predictor(model, info, max_batch_rows=5)


@pytest.fixture
def log(tmp_path):
    log = PredictionLog(tmp_path / "predictions")
    yield log
    log.close()


@pytest.fixture
def labels(tmp_path):
    store = MetadataStore(f"sqlite:///{tmp_path / 'metadata.db'}")
    yield store
    store.close()


@pytest.fixture
def client(predictor, log, clock, labels):
    return TestClient(create_app(predictor, log, clock, labels=labels))


def test_predict_answers_and_logs_every_row(client, log, predictor, clock):
    response = client.post(
        "/v1/predict",
        json={"rows": [ROW, {**ROW, "color": "blue"}]},
        headers={"x-request-id": "req-1"},
    )
    assert response.status_code == 200
    body = response.json()
    assert body["request_id"] == "req-1"
    assert body["model"] == {"name": "toy", "version": "3"}
    expected = predictor.model.predict_rows([ROW, {**ROW, "color": "blue"}])
    assert [p["probability"] for p in body["predictions"]] == pytest.approx(expected.tolist())
    assert [p["label"] for p in body["predictions"]] == [int(p >= 0.5) for p in expected]
    logged = log.read()
    assert logged["request_id"].tolist() == ["req-1", "req-1"]
    assert logged["row"].tolist() == [0, 1]
    assert logged["timestamp"].iloc[0] == clock.now().isoformat()
    assert logged["inputs"].iloc[0] == ROW
    assert (logged["latency_ms"] > 0).all()


def test_a_request_id_is_generated_when_none_is_sent(client):
    ids = {client.post("/v1/predict", json={"rows": [ROW]}).json()["request_id"] for _ in range(20)}
    assert len(ids) == 20
    assert all(len(i) >= 16 for i in ids)


def test_a_body_over_the_size_limit_is_refused_before_it_is_read_whole(client):
    huge = b'{"rows": [' + b" " * (20 << 20) + b"]}"
    response = client.post(
        "/v1/predict", content=huge, headers={"content-type": "application/json"}
    )
    assert response.status_code == 413
    assert response.json()["detail"][0]["type"] == "too_large"
    assert 'kind="too_large"' in client.get("/metrics").text


@pytest.mark.parametrize(
    ("row", "loc", "kind", "reason"),
    [
        ({**ROW, "size": "big"}, ["body", "rows", 0, "size"], "float_type", "size: not a number"),
        ({**ROW, "size": True}, ["body", "rows", 0, "size"], "float_type", "size: not a number"),
        ({"color": "red", "noise": 1.0}, ["body", "rows", 0, "size"], "missing", "size: missing"),
        (
            {**ROW, "weight": 3},
            ["body", "rows", 0, "weight"],
            "extra_forbidden",
            "weight: unexpected field",
        ),
        ({**ROW, "color": 7}, ["body", "rows", 0, "color"], "literal_error", None),
        (
            {**ROW, "color": "purple"},
            ["body", "rows", 0, "color"],
            "literal_error",
            "color: unknown category",
        ),
    ],
)
def test_bad_fields_get_422_with_their_location(client, log, row, loc, kind, reason):
    response = client.post("/v1/predict", json={"rows": [row]}, headers={"x-request-id": "r-9"})
    assert response.status_code == 422
    errors = response.json()["detail"]
    assert any(e["loc"] == loc and e["type"] == kind for e in errors), errors
    # Nothing answered; the refused row is logged with its reasons, for monitoring.
    (logged,) = log.read().to_dict("records")
    assert (logged["request_id"], logged["row"], logged["version"]) == ("r-9", 0, "3")
    assert "probability" not in logged
    assert "inputs" not in logged
    if reason is not None:
        assert reason in logged["rejected"]
    sent = {k: None if v is None else str(v) for k, v in row.items()} | (
        {"size": "true"} if row.get("size") is True else {}
    )
    # A field the model does not know is kept only as a keyed hash (it may be personal).
    assert logged["sent"].pop("weight", "pii:").startswith("pii:")
    assert logged["sent"] == {k: v for k, v in sent.items() if k != "weight"}


def test_only_the_bad_rows_of_a_refused_request_are_logged_and_a_bad_body_as_a_whole(client, log):
    rows = [ROW, {**ROW, "color": "purple", "size": "big"}, ROW]
    assert client.post("/v1/predict", json={"rows": rows}).status_code == 422
    not_json = client.post(
        "/v1/predict", content=b"{rows", headers={"content-type": "application/json"}
    )
    assert not_json.status_code == 422
    first, second = log.read().to_dict("records")
    assert first["row"] == 1
    assert first["rejected"] == ["color: unknown category", "size: not a number"]
    assert (second["row"], second["sent"], second["rejected"]) == (-1, {}, ["body: invalid"])


def test_nan_is_refused_where_json_smuggles_it_in(client):
    body = json.dumps({"rows": [{**ROW, "size": float("nan")}]})  # Python writes a bare NaN
    response = client.post(
        "/v1/predict", content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "rows", 0, "size"]


def test_an_oversized_batch_gets_413_and_how_to_split_it(client):
    response = client.post("/v1/predict", json={"rows": [ROW] * 6})
    assert response.status_code == 413
    detail = response.json()["detail"][0]
    assert detail["loc"] == ["body", "rows"]
    assert "more than 5 rows" in detail["msg"]


@pytest.mark.parametrize(
    "body",
    [
        '{"rows": [{"color": "red", "size": "\\ud800", "noise": 1}]}',  # a lone surrogate value
        '{"rows": [{"color": "red", "size": 1, "noise": 1, "\\udfff": 2}]}',  # ... and key
    ],
)
def test_unencodable_text_is_echoed_safely_not_a_500(client, body):
    response = client.post(
        "/v1/predict", content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"][0] == "body"


def test_an_unknown_top_level_key_is_refused(client):
    response = client.post("/v1/predict", json={"rows": [ROW], "model": "other"})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "model"]


def test_a_missing_category_is_accepted_as_null(client):
    assert client.post("/v1/predict", json={"rows": [{**ROW, "color": None}]}).status_code == 200


def test_a_server_fault_is_a_counted_500_without_a_stack_trace(predictor, log, clock, monkeypatch):
    app = create_app(predictor, log, clock)
    monkeypatch.setattr(predictor, "predict", lambda rows: 1 / 0)
    client = TestClient(app, raise_server_exceptions=False)
    response = client.post("/v1/predict", json={"rows": [ROW]})
    assert response.status_code == 500
    assert response.json() == {
        "detail": [{"loc": [], "msg": "internal error; see the server log", "type": "internal"}]
    }
    assert 'status="500"' in client.get("/metrics").text


def test_an_empty_batch_and_malformed_json_get_422(client):
    assert client.post("/v1/predict", json={"rows": []}).status_code == 422
    bad = client.post(
        "/v1/predict", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert bad.status_code == 422


def test_openapi_schema_comes_from_the_model_signature(client):
    schemas = client.get("/openapi.json").json()["components"]["schemas"]
    row = schemas["ToyRow"]
    assert set(row["properties"]) == {"color", "size", "noise"}
    assert row["additionalProperties"] is False


def test_models_health_and_metrics(client):
    assert client.get("/v1/models").json()["aliases"] == ["champion"]
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").json()["version"] == "3"
    client.post("/v1/predict", json={"rows": [ROW]})
    client.post("/v1/predict", json={"rows": [ROW] * 6})
    metrics = client.get("/metrics").text
    assert 'prodml_requests_total{model="toy",status="200",version="3"} 1.0' in metrics
    assert 'prodml_requests_total{model="toy",status="413",version="3"} 1.0' in metrics
    assert 'prodml_prediction_score_count{model="toy",version="3"} 1.0' in metrics


def test_answers_carry_a_conformal_set_at_the_configured_coverage(predictor, log, clock):
    import dataclasses

    from prodml.train import conformal

    frame = toy_frame(np.random.default_rng(9), 2000)
    scores = predictor.model.predict_frame(frame)
    model = dataclasses.replace(
        predictor.model, conformal=conformal.fit(scores, frame["y"], "classification")
    )
    served = Predictor(model, predictor.info, coverage=0.8)
    body = TestClient(create_app(served, log, clock)).post("/v1/predict", json={"rows": [ROW]})
    answer = body.json()
    assert answer["coverage"] == 0.8
    (prediction,) = answer["predictions"]
    q = conformal.quantile(model.conformal, 0.8)
    assert prediction["prediction_set"] == conformal.prediction_set(prediction["probability"], q)
    assert log.read()["prediction_set"].tolist() == [prediction["prediction_set"]]


def test_a_regression_model_answers_a_value_and_an_interval(log, clock):
    from prodml.train import conformal

    rng = np.random.default_rng(3)
    frame = toy_frame(rng, 1500).assign(minutes=lambda f: 10 * f["size"] + rng.normal(size=1500))
    model = fit_model("ridge", frame, "minutes", TOY_SPEC, task="regression")
    model.conformal = conformal.fit(model.predict_frame(frame), frame["minutes"], "regression")
    served = Predictor(model, ModelVersionInfo("sizes", "1", "r", "s", ()))
    client = TestClient(create_app(served, log, clock))
    answer = client.post("/v1/predict", json={"rows": [ROW]}).json()
    (prediction,) = answer["predictions"]
    assert set(prediction) == {"value", "interval"}
    low, high = prediction["interval"]
    assert low < prediction["value"] < high
    assert high - prediction["value"] == pytest.approx(conformal.quantile(model.conformal, 0.9))
    assert client.get("/v1/models").json()["task"] == "regression"


def test_the_grafana_dashboard_queries_only_metrics_the_api_exports(client):
    import json
    import re
    from pathlib import Path

    dashboard = Path(__file__).parents[2] / "deploy" / "grafana" / "prodml-serving.json"
    exprs = [t["expr"] for p in json.loads(dashboard.read_text())["panels"] for t in p["targets"]]

    def base(name: str) -> str:
        return re.sub(r"_(total|bucket|sum|count|created)$", "", name)

    queried = {base(m) for e in exprs for m in re.findall(r"prodml_\w+", e)}
    client.post("/v1/predict", json={"rows": [ROW]})
    text = client.get("/metrics").text
    exported = {base(m) for m in re.findall(r"^# TYPE (prodml_\w+) ", text, re.MULTILINE)}
    assert queried
    assert queried <= exported


def test_feedback_records_the_truth_of_answered_rows(client, labels, clock):
    client.post("/v1/predict", json={"rows": [ROW, ROW]}, headers={"x-request-id": "req-9"})
    response = client.post(
        "/v1/feedback",
        json={
            "labels": [
                {"request_id": "req-9", "label": 1},
                {"request_id": "req-9", "row": 1, "label": 0},
            ]
        },
    )
    assert response.status_code == 200
    assert response.json() == {"model": "toy", "accepted": 2}
    stored = sorted(
        (x.request_id, x.row, x.label, x.received_at) for x in labels.list_labels("toy")
    )
    assert stored == [("req-9", 0, 1.0, clock.now()), ("req-9", 1, 0.0, clock.now())]


@pytest.mark.parametrize(
    ("entry", "loc"),
    [
        ({"request_id": "r", "label": 0.5}, ["body", "labels", 0, "label"]),
        ({"request_id": "r", "label": "yes"}, ["body", "labels", 0, "label"]),
        ({"request_id": "r", "label": True}, ["body", "labels", 0, "label"]),
        ({"request_id": "", "label": 1}, ["body", "labels", 0, "request_id"]),
        ({"request_id": "a\x00b", "label": 1}, ["body", "labels", 0, "request_id"]),
        ({"request_id": "r", "row": -1, "label": 1}, ["body", "labels", 0, "row"]),
        ({"request_id": "r", "row": -(2**64), "label": 1}, ["body", "labels", 0, "row"]),
        ({"request_id": "r"}, ["body", "labels", 0, "label"]),
        ({"request_id": "r", "label": 1, "extra": 2}, ["body", "labels", 0, "extra"]),
    ],
)
def test_bad_feedback_gets_422_naming_the_field(client, labels, entry, loc):
    response = client.post("/v1/feedback", json={"labels": [entry]})
    assert response.status_code == 422
    assert [e["loc"] for e in response.json()["detail"]] == [loc]
    assert labels.list_labels("toy") == []


def test_feedback_with_nan_is_a_422_not_a_500(client):
    body = json.dumps({"labels": [{"request_id": "r", "label": float("nan")}]})
    response = client.post(
        "/v1/feedback", content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["input"] == "nan"


def test_feedback_without_a_metadata_store_says_so(predictor, log, clock):
    response = TestClient(create_app(predictor, log, clock)).post(
        "/v1/feedback", json={"labels": [{"request_id": "r", "label": 1}]}
    )
    assert response.status_code == 503
    assert "metadata store" in response.json()["detail"][0]["msg"]
