"""A server under a traffic policy of several arms: callers stick to their arm, a failing
candidate's callers are answered by the stable version and the failure is logged against
the candidate, and a shadow scores a copy that no caller sees; whether an arm scores on a
lane of its own or, being quick, on the server's loop."""

import math
import time

import numpy as np
import pytest
from fastapi.testclient import TestClient

from prodml.registry import ModelVersionInfo
from prodml.serve import PredictionLog, Predictor, create_app
from prodml.serve.deployment import Deployment
from prodml.serve.policy import Policy
from prodml.serve.router import Router
from prodml.serve.routing import Routing
from prodml.train import fit_model
from prodml.train.model import FeatureSpec
from tests._data import TOY_SPEC, toy_frame

ROW = {"color": "red", "size": 0.5, "noise": None}


def _predictor(version: str, seed: int) -> Predictor:
    model = fit_model("logistic", toy_frame(np.random.default_rng(seed), 500), "y", TOY_SPEC)
    return Predictor(model, ModelVersionInfo("toy", version, "r", "s", ()))


@pytest.fixture(scope="module")
def stable():
    return _predictor("1", 1)


@pytest.fixture
def candidate():
    return _predictor("2", 2)


def _client(policy, predictors, tmp_path, clock, **options):
    routing = Routing(policy, predictors, deployment="toy-api")
    log = PredictionLog(tmp_path / "log")
    app = create_app(Deployment(routing), log, clock, **options)
    return TestClient(app), log


def _send(client, n, key=None):
    answers = []
    for i in range(n):
        response = client.post(
            "/v1/predict", json={"rows": [ROW]}, headers={"x-request-id": key or f"r-{i}"}
        )
        assert response.status_code == 200, response.text
        answers.append(response.json())
    return answers


def test_a_canary_sends_its_share_to_the_candidate_and_the_answer_names_the_arm(
    stable, candidate, tmp_path, clock
):
    policy = Policy.canary("toy", "1", "2", steps=(0.25, 1.0))
    client, log = _client(policy, {"stable": stable, "candidate": candidate}, tmp_path, clock)
    answers = _send(client, 400)
    arms = [a["arm"] for a in answers]
    assert 0.18 < arms.count("candidate") / len(arms) < 0.32
    for a in answers:
        assert a["deployment"] == "toy-api"
        assert a["model"]["version"] == {"candidate": "2", "stable": "1"}[a["arm"]]
    logged = log.read()
    assert logged["arm"].tolist() == arms
    assert (logged["deployment"] == "toy-api").all()
    # The arm is the router's pick for each request id, whoever asks again.
    router = Router("toy-api", policy)
    assert arms == [router.route(f"r-{i}").name for i in range(400)]
    log.close()


def test_a_caller_sticks_to_its_arm_by_the_declared_key(stable, candidate, tmp_path, clock):
    policy = Policy.canary("toy", "1", "2", steps=(0.5, 1.0), key="color")
    client, log = _client(policy, {"stable": stable, "candidate": candidate}, tmp_path, clock)
    arms = {a["arm"] for a in _send(client, 30)}  # one color, thirty request ids
    assert len(arms) == 1
    log.close()


@pytest.fixture(params=["lane", "loop"])
def where(request):
    """Where the candidate scores: on its lane, or on the loop as a quick (compiled) arm."""
    return request.param


def _placed(predictor, where):
    if where == "loop":
        predictor.quick = lambda rows: True  # as compiled trees scoring one row are
    return predictor


def _failing(predictor, how):
    original = predictor.scores

    def scores(rows):
        if how == "raise":
            raise RuntimeError("candidate broke")
        if how == "nan":
            return [math.nan for _ in rows]
        time.sleep(0.3)
        return original(rows)

    predictor.scores = scores
    return predictor


@pytest.mark.parametrize(
    ("how", "reasons", "where"),
    # A hung candidate holds its thread: later callers find it busy, and do not wait. (A
    # quick arm's scoring is bounded by construction: it has no slow case.)
    [
        ("raise", {"raised"}, "lane"),
        ("nan", {"non_finite"}, "lane"),
        ("slow", {"timeout", "busy"}, "lane"),
        ("raise", {"raised"}, "loop"),
        ("nan", {"non_finite"}, "loop"),
    ],
)
def test_a_failing_candidate_never_fails_a_caller(
    stable, candidate, tmp_path, clock, how, reasons, where
):
    policy = Policy.canary("toy", "1", "2", steps=(0.5, 1.0))
    predictors = {"stable": stable, "candidate": _placed(_failing(candidate, how), where)}
    client, log = _client(policy, predictors, tmp_path, clock, candidate_timeout_ms=50)
    answers = _send(client, 40)
    assert all(a["model"]["version"] == "1" for a in answers)  # the stable answered all
    routed = [a for a in answers if a["arm"] == "candidate"]
    assert routed
    assert {a["fallback"] for a in routed} <= reasons
    logged = log.read()
    fell_back = logged[logged["arm"] == "candidate"]
    assert fell_back["fallback"].tolist() == [a["fallback"] for a in routed]
    assert (fell_back["version"] == "1").all()
    assert np.isfinite(logged["probability"]).all()
    metrics = client.get("/metrics").text
    for reason in {a["fallback"] for a in routed}:
        count = sum(a["fallback"] == reason for a in routed)
        labels = f'arm="candidate",deployment="toy-api",reason="{reason}"'
        assert f"prodml_fallbacks_total{{{labels}}} {count}.0" in metrics
    log.close()


def test_a_candidate_that_wants_another_input_is_answered_for_by_the_stable(
    stable, tmp_path, clock
):
    frame = toy_frame(np.random.default_rng(3), 500).rename(columns={"size": "girth"})
    spec = FeatureSpec(categorical=("color",), numeric=("girth", "noise"))
    other = Predictor(
        fit_model("logistic", frame, "y", spec), ModelVersionInfo("toy", "3", "r", "s", ())
    )
    policy = Policy.canary("toy", "1", "3", steps=(0.5, 1.0))
    client, log = _client(policy, {"stable": stable, "candidate": other}, tmp_path, clock)
    routed = [a for a in _send(client, 30) if a["arm"] == "candidate"]
    assert routed
    assert {a["fallback"] for a in routed} == {"invalid"}
    log.close()


def test_a_shadow_scores_a_copy_that_no_caller_sees(stable, candidate, tmp_path, clock, where):
    policy = Policy.shadow("toy", "1", "2")
    predictors = {"stable": stable, "candidate": _placed(candidate, where)}
    client, log = _client(policy, predictors, tmp_path, clock)
    with client:  # one event loop for all requests, as in a server: shadows finish on it
        answers = _send(client, 20)
        deadline = time.monotonic() + 10
        while log.read().get("shadow") is None or log.read()["shadow"].eq(True).sum() < 20:
            assert time.monotonic() < deadline, "the shadow's scores were not logged"
            time.sleep(0.05)
    assert {a["model"]["version"] for a in answers} == {"1"}
    assert all("shadow" not in a for a in answers)
    logged = log.read()
    shadows = logged[logged["shadow"].eq(True)]
    assert set(shadows["version"]) == {"2"}
    assert set(shadows["arm"]) == {"candidate"}
    assert sorted(shadows["request_id"]) == sorted(a["request_id"] for a in answers)
    expected = candidate.scores([ROW])[0]
    assert shadows["probability"].to_numpy() == pytest.approx(expected)
    log.close()


def test_a_shadow_that_raises_touches_no_answer(stable, candidate, tmp_path, clock, where):
    policy = Policy.shadow("toy", "1", "2")
    predictors = {"stable": stable, "candidate": _placed(_failing(candidate, "raise"), where)}
    client, log = _client(policy, predictors, tmp_path, clock)
    with client:
        answers = _send(client, 10)
        time.sleep(0.2)
    assert {a["model"]["version"] for a in answers} == {"1"}
    assert (
        'prodml_fallbacks_total{arm="candidate",deployment="toy-api",reason="raised"} 10.0'
        in client.get("/metrics").text
    )
    assert "shadow" not in log.read() or not log.read()["shadow"].eq(True).any()
    log.close()
