"""The console with governance.auth on: signing in with a token, reading the pages, the buttons a
role is shown, and every refusal the server makes whatever a form sends (a viewer's
forced action, no reason, no CSRF token, a page gone stale), each leaving nothing done.
The approver's promotion, through a real browser, is in test_browser."""

import json
from collections.abc import Iterator

import numpy as np
import pytest
from starlette.testclient import TestClient

from prodml.train import fit_model
from prodml.train.fairness import FairnessRules, check_fairness
from prodml.ui import create_ui
from tests._data import TOY_SPEC, log_model_run, toy_frame
from tests.automate._world import DEPLOYMENT, MODEL
from tests.ui.conftest import csrf_of, sign_in

PROMOTE = f"/deployments/{DEPLOYMENT}/promote"


@pytest.fixture
def client(lived) -> Iterator[TestClient]:
    with TestClient(create_ui(lived)) as client:
        yield client


def _revision(ws) -> int:
    return ws.rollouts.status(DEPLOYMENT)[0].revision


def test_without_signing_in_every_page_asks_for_a_token(client):
    for path in ("/models", f"/deployments/{DEPLOYMENT}", "/audit", "/models?token=x"):
        page = client.get(path)  # a token in an address is never read
        assert page.status_code == 200
        assert page.url.path == "/signin"
        assert 'type="password" name="token"' in page.text


def test_a_wrong_token_is_refused_and_named(client):
    csrf = csrf_of(client.get("/signin").text)
    page = client.post("/signin", data={"token": "prodml_nothing_here", "csrf": csrf})
    assert page.status_code == 401
    assert "token" in page.text.lower()
    assert "prodml_token" not in page.headers.get("set-cookie", "")


def test_a_viewer_sees_no_button_and_a_forced_action_is_refused_and_audited(lived, client):
    csrf = sign_in(lived, client, "viewer")
    page = client.get(f"/deployments/{DEPLOYMENT}").text
    assert "Signed in as <strong>viewer-person (token" in page
    assert page.count("<button") == 1  # "Sign out", and no action
    before = _revision(lived)
    data = {"csrf": csrf, "reason": "because I can", "revision": before}
    refused = client.post(PROMOTE, data=data)
    assert refused.status_code == 403
    assert "approver" in refused.text  # the role that may
    assert _revision(lived) == before
    denied = list(lived.audit.events(actions={"auth.denied"}))
    assert denied
    assert denied[-1].actor.startswith("viewer-person")
    assert denied[-1].figures["where"] == "console"


def test_an_operator_sees_pause_and_stop_but_not_promote(lived, client):
    sign_in(lived, client, "operator")
    page = client.get(f"/deployments/{DEPLOYMENT}").text
    assert "Pause the rollout" in page
    assert "Stop the model" in page
    assert "Promote the candidate" not in page
    assert "Roll back" not in page


def test_an_action_without_a_reason_or_csrf_token_or_on_a_stale_page_is_refused(lived, client):
    csrf = sign_in(lived, client, "approver")
    page = client.get(f"/deployments/{DEPLOYMENT}").text
    assert "Promote the candidate" in page
    before = _revision(lived)
    cases = [
        ({"csrf": csrf, "reason": "  ", "revision": before}, 400, "Say why"),
        ({"reason": "looks good", "revision": before}, 403, "CSRF"),
        ({"csrf": "0" * 64, "reason": "looks good", "revision": before}, 403, "CSRF"),
        ({"csrf": csrf, "reason": "looks good", "revision": before - 1}, 409, "changed since"),
    ]
    for data, status, says in cases:
        refused = client.post(PROMOTE, data=data)
        assert refused.status_code == status, (data, refused.text)
        assert says in refused.text
        assert f'href="http://testserver/deployments/{DEPLOYMENT}"' in refused.text  # back
    assert _revision(lived) == before
    assert "champion" in lived.registry.resolve(f"{MODEL}/1").aliases


def test_a_viewer_reads_the_models_story_and_its_charts(lived, client):
    sign_in(lived, client, "viewer")
    monitoring = client.get(f"/models/{MODEL}/monitoring").text
    assert "Alerts firing" in monitoring
    assert "performance-drop" in monitoring
    for chart in ("performance", "drift", "fairness"):
        svg = client.get(f"/models/{MODEL}/monitoring/{chart}.svg")
        assert svg.headers["content-type"].startswith("image/svg+xml")
        assert "<svg" in svg.text
    training = client.get(f"/models/{MODEL}/training").text
    assert "retrained" in training
    assert "gate passed" in training
    audit = client.get("/audit", params={"action": "deployment."}).text
    assert "deployment.canary" in audit
    assert "token.create" not in audit
    assert "The audit log is intact" in audit
    data = client.get("/data").text
    assert lived.registry.resolve(f"{MODEL}/1").tags[f"prodml.snapshot.{MODEL}"][:12] in data


def test_an_approver_grants_a_fairness_exception_and_makes_a_version_champion(lived, client):
    rows = toy_frame(np.random.default_rng(5), 1000)
    model = fit_model("logistic", rows, "y", TOY_SPEC)
    version = lived.registry.register(MODEL, log_model_run(lived, model)).version
    # Held to a rule no model meets here (selection rates of every colour within 1%).
    fairness = check_fairness(
        rows, rows["y"], model.predict_frame(rows), sensitive=["color"],
        rules=FairnessRules(min_ratio=0.99, intersections=False, resamples=20),
    )  # fmt: skip
    assert not fairness["passed"]
    # Its gate: better than the baseline, blocked by the fairness check alone.
    gate = json.loads(lived.registry.resolve(f"{MODEL}/1").tags["prodml.gate"])
    gate["comparisons"] = [c for c in gate["comparisons"] if c["passed"]]
    gate["passed"] = False
    lived.registry.set_tags(
        MODEL, version, {"prodml.gate": json.dumps(gate), "prodml.fairness": json.dumps(fairness)}
    )
    csrf = sign_in(lived, client, "approver")
    page = client.get(f"/models/{MODEL}").text
    assert "blocked by the fairness check" in page
    assert "Grant a fairness exception" in page
    granted = client.post(
        f"/models/{MODEL}/{version}/allow",
        data={"csrf": csrf, "reason": "legal review LR-114 accepts the gap"},
        follow_redirects=False,
    )
    assert granted.status_code == 303, granted.text
    info = lived.registry.resolve(f"{MODEL}/{version}")
    assert "challenger" in info.aliases
    assert "LR-114" in info.tags["prodml.fairness.exception"]
    page = client.get(f"/models/{MODEL}").text
    assert "blocked by the fairness check" not in page
    made = client.post(
        f"/models/{MODEL}/{version}/champion",
        data={"csrf": csrf, "reason": "the exception is signed"},
        follow_redirects=False,
    )
    assert made.status_code == 303, made.text
    assert lived.registry.resolve(f"{MODEL}@champion").version == version
    moved = list(lived.audit.events(actions={"fairness.exception"}))
    assert moved[-1].reason == "legal review LR-114 accepts the gap"


def test_an_approver_overrides_a_logged_decision_and_a_viewer_cannot(lived, client):
    logged = lived.prediction_log(MODEL).read()
    said = logged.iloc[-1]
    request_id = str(said["request_id"])
    page_url = f"/models/{MODEL}/requests"
    override = f"{page_url}/{request_id}/override"
    csrf = sign_in(lived, client, "viewer")
    page = client.get(page_url, params={"id": request_id}).text
    assert f"p = {said['probability']:.3f}" in page  # what the model said, and its score
    assert "Override</button>" not in page
    flipped = str(1 - int(said["label"]))
    forced = {"csrf": csrf, "row": "0", "decision": flipped, "reason": "I know better"}
    assert client.post(override, data=forced).status_code == 403
    csrf = sign_in(lived, client, "approver")
    page = client.get(page_url, params={"id": request_id}).text
    assert "Override</button>" in page
    form = page[page.index(f'{override}"') :]
    form = form[: form.index("</form>")]
    assert all(f'name="{field}"' in form for field in ("csrf", "row", "decision", "reason"))
    blank = client.post(override, data={**forced, "csrf": csrf, "reason": " "})
    assert blank.status_code == 400
    assert "Say why" in blank.text
    nowhere = client.post(override, data={**forced, "csrf": csrf, "row": "7"})
    assert nowhere.status_code == 404  # the request answered one row
    assert "answered rows are [0]" in nowhere.text
    assert lived.metadata.list_overrides(MODEL) == []
    done = client.post(override, data={**forced, "csrf": csrf, "reason": "the customer called"})
    assert done.status_code == 200  # the request's page again, with the decision that stands
    assert "the customer called" in done.text
    (stands,) = lived.metadata.list_overrides(MODEL)
    assert (stands.request_id, stands.decision) == (request_id, float(flipped))
    assert stands.actor.startswith("approver-person")
    event = list(lived.audit.events(actions={"decision.override"}))[-1]
    assert event.reason == "the customer called"
    missing = client.get(page_url, params={"id": "no-such-request"}).text
    assert "holds no request no-such-request" in missing
