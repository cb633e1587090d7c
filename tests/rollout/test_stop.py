"""The kill switch: `stop` answers with the version live before (or refuses every caller
with 503 and the reason) from the server's next check, records who and why, and `resume`
lets the model answer again."""

import pytest

from prodml.errors import ConfigError, StateError

ROW = {"color": "red", "size": 0.5, "noise": None}


def _answer(client):
    return client.post("/v1/predict", json={"rows": [ROW]})


def test_stop_with_the_previous_version_answering(served, workspace):
    client, deployment = served
    workspace.rollouts.canary("toy-api", "2", actor="ana")
    workspace.rollouts.promote("toy-api", actor="ana", reason="better")
    deployment.check()
    assert _answer(client).json()["model"]["version"] == "2"
    workspace.rollouts.stop("toy-api", actor="oli", reason="scores all zero", fallback="previous")
    deployment.check()  # the server's next poll
    assert _answer(client).json()["model"]["version"] == "1"
    change, policy = workspace.rollouts.status("toy-api")
    assert (change.action, change.actor, change.figures["stopped_version"]) == ("stop", "oli", "2")
    assert policy.describe() == "single: stable (v1)"
    event = list(workspace.audit.events())[-1]
    assert (event.action, event.actor, event.reason) == (
        "deployment.stop",
        "oli",
        "scores all zero",
    )


def test_stop_with_refusals_until_resumed(served, workspace):
    client, deployment = served
    workspace.rollouts.stop("toy-api", actor="oli", reason="regulator asked", fallback="refuse")
    deployment.check()
    refused = _answer(client)
    assert refused.status_code == 503
    message = refused.json()["detail"][0]["msg"]
    assert "stopped" in message
    assert "regulator asked" in message
    assert "by oli" in message
    assert 'kind="stopped"' in client.get("/metrics").text
    with pytest.raises(StateError, match="stopped already"):
        workspace.rollouts.stop("toy-api", actor="oli", reason="again", fallback="refuse")
    workspace.rollouts.resume("toy-api", actor="oli", reason="fixed upstream")
    deployment.check()
    assert _answer(client).status_code == 200


def test_a_stop_needs_a_reason_and_a_version_to_fall_back_on(served, workspace):
    with pytest.raises(ConfigError, match="--reason"):
        workspace.rollouts.stop("toy-api", actor="oli", reason=" ", fallback="refuse")
    with pytest.raises(StateError, match="--fallback refuse"):
        workspace.rollouts.stop("toy-api", actor="oli", reason="bad", fallback="previous")
