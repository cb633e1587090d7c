"""Human oversight: POST /v1/override replaces the model's decision for an answered row
with a person's, recording who and why in the store and the audit log; monitoring then
counts the person's decision. An unknown request, a bad decision or no reason is refused."""

import pytest
from fastapi.testclient import TestClient

from prodml.govern import Guard
from prodml.monitor.labels import OVERRIDDEN, apply_overrides
from prodml.monitor.traffic import DECISION, traffic_frame
from prodml.serve import PredictionLog, create_app

ROWS = [{"color": "red", "size": 0.5, "noise": None}, {"color": "blue", "size": 2.0, "noise": 1}]


@pytest.fixture
def api(workspace, predictor, tmp_path):
    log = PredictionLog(tmp_path / "predictions")
    app = create_app(
        predictor, log, workspace.clock, labels=workspace.metadata, overrides=workspace.overrides
    )
    yield TestClient(app), log
    log.close()


def test_an_override_replaces_the_decision_and_is_recorded(api, workspace):
    client, log = api
    answered = client.post("/v1/predict", json={"rows": ROWS}, headers={"x-request-id": "r1"})
    said = answered.json()["predictions"][1]["label"]
    body = {
        "request_id": "r1",
        "row": 1,
        "decision": 1 - said,
        "reason": "income verified by hand",
        "by": "maria",
    }
    response = client.post("/v1/override", json=body)
    assert response.status_code == 200, response.text
    assert response.json() == {
        "model": "toy",
        "request_id": "r1",
        "row": 1,
        "decision": 1 - said,
        "model_decision": said,
        "by": "maria",
    }
    [stored] = workspace.metadata.list_overrides("toy")
    assert (stored.actor, stored.reason, stored.decision) == ("maria", body["reason"], 1 - said)
    event = list(workspace.audit.events())[-1]
    assert (event.action, event.actor, event.target) == (
        "decision.override",
        "maria",
        "model/toy/request/r1/1",
    )
    assert event.figures["model_decision"] == said
    log.sync()
    traffic = apply_overrides(traffic_frame(log.read()), workspace.metadata.list_overrides("toy"))
    assert traffic[OVERRIDDEN].tolist() == [False, True]
    assert traffic[DECISION].tolist() == [answered.json()["predictions"][0]["label"], 1 - said]


@pytest.mark.parametrize(
    ("body", "status", "where"),
    [
        ({"request_id": "nope", "decision": 1, "reason": "checked"}, 404, "no answer is logged"),
        (
            {"request_id": "r1", "row": 5, "decision": 1, "reason": "checked"},
            404,
            "rows are [0, 1]",
        ),
        ({"request_id": "r1", "decision": 2, "reason": "checked"}, 422, "decision"),
        ({"request_id": "r1", "decision": 1, "reason": ""}, 422, "reason"),
        ({"request_id": "r1", "decision": 1}, 422, "reason"),
    ],
    ids=["unknown-request", "unknown-row", "not-a-class", "empty-reason", "no-reason"],
)
def test_an_override_that_cannot_stand_is_refused_and_nothing_is_recorded(
    api, workspace, body, status, where
):
    client, _ = api
    client.post("/v1/predict", json={"rows": ROWS}, headers={"x-request-id": "r1"})
    response = client.post("/v1/override", json=body)
    assert response.status_code == status
    assert where in str(response.json()["detail"])
    assert workspace.metadata.list_overrides("toy") == []


def test_with_tokens_an_approver_overrides_as_themselves_and_a_client_cannot(
    governed, predictor, tmp_path
):
    ws, tokens = governed
    log = PredictionLog(tmp_path / "predictions")
    app = create_app(predictor, log, ws.clock, overrides=ws.overrides, guard=Guard(ws.tokens))
    client = TestClient(app)
    headers = {"x-request-id": "r9", "Authorization": f"Bearer {tokens['client']}"}
    assert client.post("/v1/predict", json={"rows": ROWS}, headers=headers).is_success
    body = {"request_id": "r9", "decision": 0, "reason": "manual review", "by": "someone else"}
    refused = client.post(
        "/v1/override", json=body, headers={"Authorization": f"Bearer {tokens['client']}"}
    )
    assert refused.status_code == 403
    done = client.post(
        "/v1/override", json=body, headers={"Authorization": f"Bearer {tokens['approver']}"}
    )
    assert done.status_code == 200, done.text
    assert done.json()["by"].startswith("a approver (token ")
    log.close()
