"""With a guard, every route in the OpenAPI document but health and metrics refuses a
caller without a token (401) or whose role does not allow it (403), saying which role
would do, on SQLite and PostgreSQL; a token in the URL is refused; guessing is slowed by
429; a refused valid token is recorded in the audit log."""

import pytest
from fastapi.testclient import TestClient

from prodml.govern import Guard
from prodml.govern.roles import LABEL, OVERRIDE, PREDICT, READ, ROLES
from prodml.serve import PredictionLog, create_app

ROW = {"color": "red", "size": 0.5, "noise": None}
GUARDED = {
    ("post", "/v1/predict"): (PREDICT, {"rows": [ROW]}),
    ("post", "/v1/explain"): (PREDICT, {"rows": [ROW]}),
    ("post", "/v1/feedback"): (LABEL, {"labels": [{"request_id": "r", "label": 1}]}),
    ("get", "/v1/models"): (READ, None),
    ("get", "/v1/explain/{request_id}"): (PREDICT, None),
    ("post", "/v1/override"): (OVERRIDE, {"request_id": "r", "decision": 1, "reason": "seen"}),
}
OPEN = {("get", "/healthz"), ("get", "/readyz"), ("get", "/metrics")}


@pytest.fixture
def served(governed, predictor, tmp_path):
    ws, tokens = governed
    log = PredictionLog(tmp_path / "predictions")
    guard = Guard(ws.tokens, cache_seconds=0.0, max_failures=2 * len(GUARDED))
    app = create_app(predictor, log, ws.clock, labels=ws.metadata, guard=guard)
    yield TestClient(app), ws, tokens
    log.close()


def _call(client, method, path, body, token=None, **headers):
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return client.request(method, path, json=body, headers=headers)


def test_every_route_asks_for_the_role_it_needs(served):
    client, ws, tokens = served
    document = client.get("/openapi.json").json()
    routes = {(m, p) for p, ops in document["paths"].items() for m in ops}
    assert routes == GUARDED.keys() | OPEN, "a new route must be classified here"
    for (method, path), (permission, body) in GUARDED.items():
        assert document["paths"][path][method]["security"] == [{"HTTPBearer": []}]
        anonymous = _call(client, method, path, body)
        assert anonymous.status_code == 401, (path, anonymous.text)
        assert anonymous.headers["www-authenticate"].startswith("Bearer")
        needed = " or ".join(r for r, held in ROLES.items() if permission in held)
        assert f"needs a token of role {needed}" in anonymous.json()["detail"][0]["msg"]
        wrong = next(r for r, held in ROLES.items() if permission not in held)
        refused = _call(client, method, path, body, tokens[wrong])
        assert refused.status_code == 403, (path, refused.text)
        assert f"may not {permission}: that needs the role" in refused.json()["detail"][0]["msg"]
        right = next(r for r, held in ROLES.items() if permission in held)
        allowed = _call(client, method, path, body, tokens[right])
        assert allowed.status_code not in (401, 403), (path, allowed.text)
    for method, path in OPEN:
        assert client.request(method, path).status_code == 200, path
    denied = [e for e in ws.audit.events() if e.action == "auth.denied"]
    assert {e.figures["where"] for e in denied} == {f"{m.upper()} {p}" for m, p in GUARDED}


def test_a_client_may_predict_but_not_post_labels(served):
    client, _, tokens = served
    assert _call(client, "post", "/v1/predict", {"rows": [ROW]}, tokens["client"]).is_success
    labels = {"labels": [{"request_id": "r", "label": 1}]}
    refused = _call(client, "post", "/v1/feedback", labels, tokens["client"])
    assert refused.status_code == 403
    assert "labeler" in refused.json()["detail"][0]["msg"]


def test_a_token_scoped_to_another_model_is_refused(served):
    client, ws, _ = served
    _, other = ws.tokens.create("client", name="shop", actor="setup", model="churn")
    refused = _call(client, "post", "/v1/predict", {"rows": [ROW]}, other)
    assert refused.status_code == 403
    assert "scoped to model 'churn'" in refused.json()["detail"][0]["msg"]


@pytest.mark.parametrize("name", ["token", "access_token", "api_key"])
def test_a_token_in_the_url_is_refused_even_beside_a_good_header(served, name):
    client, _, tokens = served
    for path in ("/v1/predict", "/v1/explain"):
        response = client.post(
            f"{path}?{name}={tokens['client']}",
            json={"rows": [ROW]},
            headers={"Authorization": f"Bearer {tokens['client']}"},
        )
        assert response.status_code == 401
        assert "revoke the one you sent" in response.json()["detail"][0]["msg"]


@pytest.mark.parametrize(
    "header",
    ["Basic dXNlcjpwYXNz", "Bearer", "Bearer pml_nope", "Bearer pml_000000000000_" + "A" * 43],
    ids=["basic", "empty", "malformed", "unknown"],
)
def test_a_bad_header_is_refused_with_the_reason(served, header):
    client, _, _ = served
    response = client.post("/v1/predict", json={"rows": [ROW]}, headers={"Authorization": header})
    assert response.status_code == 401
    assert response.json()["detail"][0]["msg"]


def test_a_revoked_token_is_refused_once_its_check_is_due(served):
    client, ws, tokens = served
    assert _call(client, "get", "/v1/models", None, tokens["viewer"]).is_success
    ws.tokens.revoke(tokens["viewer"].split("_")[1], actor="setup", reason="left")
    refused = _call(client, "get", "/v1/models", None, tokens["viewer"])
    assert refused.status_code == 401
    assert "revoked" in refused.json()["detail"][0]["msg"]


def test_guessing_is_answered_429_while_a_known_caller_goes_on(governed, predictor, tmp_path):
    ws, tokens = governed
    log = PredictionLog(tmp_path / "predictions")
    guard = Guard(ws.tokens, cache_seconds=60.0, max_failures=5)
    client = TestClient(create_app(predictor, log, ws.clock, guard=guard))
    assert _call(client, "post", "/v1/predict", {"rows": [ROW]}, tokens["client"]).is_success
    guesses = [
        _call(client, "post", "/v1/predict", {"rows": [ROW]}, f"pml_{i:012x}_{'A' * 43}")
        for i in range(7)
    ]
    assert [g.status_code for g in guesses] == [401] * 5 + [429] * 2
    assert int(guesses[-1].headers["retry-after"]) > 0
    assert "failed sign-ins" in guesses[-1].json()["detail"][0]["msg"]
    assert _call(client, "post", "/v1/predict", {"rows": [ROW]}, tokens["client"]).is_success
    _, fresh = ws.tokens.create("client", name="new", actor="setup")
    assert _call(client, "post", "/v1/predict", {"rows": [ROW]}, fresh).status_code == 429
    metrics = client.get("/metrics").text
    assert 'kind="AuthError"' in metrics
    assert 'kind="RateLimitedError"' in metrics
    log.close()


def test_a_header_admitted_once_is_admitted_for_that_permission_only(governed, predictor, tmp_path):
    """The server remembers an admitted header for a poll, per permission: a client's
    token, admitted to predict, is still refused labels."""
    ws, tokens = governed
    log = PredictionLog(tmp_path / "predictions")
    guard = Guard(ws.tokens, cache_seconds=60.0, max_failures=5)
    client = TestClient(create_app(predictor, log, ws.clock, labels=ws.metadata, guard=guard))
    for _ in range(3):
        assert _call(client, "post", "/v1/predict", {"rows": [ROW]}, tokens["client"]).is_success
    labels = {"labels": [{"request_id": "r", "label": 1}]}
    refused = _call(client, "post", "/v1/feedback", labels, tokens["client"])
    assert refused.status_code == 403
    assert "labeler" in refused.json()["detail"][0]["msg"]
    log.close()
