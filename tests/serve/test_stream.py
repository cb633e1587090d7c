"""One contract for every stream backend, run on the real NATS JetStream and Redis."""

from __future__ import annotations

import asyncio
import uuid

import numpy as np
import orjson
import pytest

from prodml.registry import ModelVersionInfo
from prodml.serve import Deployment, PredictionLog, Predictor
from prodml.serve.stream import StreamWorker
from prodml.serve.stream.base import Subjects
from prodml.train import fit_model
from tests._data import TOY_SPEC, toy_frame

ROW = {"color": "red", "size": 0.5, "noise": None}


class _NatsClient:
    """The other side of the broker: a client sending requests and reading answers."""

    def __init__(self, url: str, subjects: Subjects, stream: str) -> None:
        self.url, self.subjects, self.stream = url, subjects, stream

    async def __aenter__(self) -> _NatsClient:
        import nats

        self.nc = await nats.connect(self.url)
        self.js = self.nc.jetstream()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.js.delete_stream(self.stream)
        await self.nc.close()

    async def send(self, data: bytes) -> None:
        await self.js.publish(self.subjects.requests, data)

    async def read(self, subject: str) -> list[dict]:
        sub = await self.js.pull_subscribe(subject, stream=self.stream)
        out = []
        while True:
            try:
                batch = await sub.fetch(100, timeout=0.5)
            except Exception:  # nats' TimeoutError: nothing left
                return out
            out += [orjson.loads(m.data) for m in batch]


class _RedisClient:
    def __init__(self, url: str, subjects: Subjects) -> None:
        self.url, self.subjects = url, subjects

    async def __aenter__(self) -> _RedisClient:
        import redis.asyncio as aioredis

        self.client = aioredis.Redis.from_url(self.url)
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.client.aclose()

    async def send(self, data: bytes) -> None:
        await self.client.xadd(self.subjects.requests, {"body": data})

    async def read(self, key: str) -> list[dict]:
        return [orjson.loads(f[b"body"]) for _, f in await self.client.xrange(key)]


@pytest.fixture(params=["nats", "redis"])
def broker(request):
    """(backend factory, client) for a fresh set of subjects on a real broker."""
    prefix = f"t{uuid.uuid4().hex[:10]}"
    subjects = Subjects.for_model(prefix, "toy")
    if request.param == "nats":
        from prodml.serve.stream.nats import NatsBackend

        url = request.getfixturevalue("nats_url")

        def backend(max_deliveries=5):
            return NatsBackend(url, subjects, durable="w", max_deliveries=max_deliveries)

        return backend, _NatsClient(url, subjects, backend().stream)
    from prodml.serve.stream.redis import RedisBackend

    url = request.getfixturevalue("redis_url")

    def backend(max_deliveries=5):  # claimed again quickly, so retries take a test's time
        return RedisBackend(url, subjects, group="w", max_deliveries=max_deliveries, ack_wait=0.3)

    return backend, _RedisClient(url, subjects)


@pytest.fixture(scope="module")
def predictor():
    model = fit_model("logistic", toy_frame(np.random.default_rng(6), 600), "y", TOY_SPEC)
    return Predictor(model, ModelVersionInfo("toy", "4", "r", "s", ()))


def _run(backend, predictor, log, clock, messages, idle=2.0):
    """Send `messages`, run a worker until the stream is quiet, return its stats and what
    came out on the predictions and dead-letter subjects."""
    make, client = backend

    async def go():
        async with client:
            worker_backend = make() if not isinstance(messages, tuple) else make(messages[1])
            await worker_backend.open()
            for data in messages[0] if isinstance(messages, tuple) else messages:
                await client.send(data)
            try:
                worker = StreamWorker(worker_backend, Deployment(predictor), log, clock)
                stats = await worker.run(idle_seconds=idle)
            finally:
                await worker_backend.close()
            subjects = worker_backend.subjects
            return stats, await client.read(subjects.predictions), await client.read(subjects.dead)

    return asyncio.run(go())


def _request(request_id, rows=(ROW,)):
    return orjson.dumps({"request_id": request_id, "rows": list(rows)})


def test_every_request_is_answered_once_and_logged(broker, predictor, tmp_path, clock):
    log = PredictionLog(tmp_path)
    messages = [_request("a"), _request("b", [ROW, {**ROW, "color": "blue"}]), _request("a")]
    stats, answers, dead = _run(broker, predictor, log, clock, messages)
    assert (stats.answered, stats.duplicates, dead) == (2, 1, [])
    assert [a["request_id"] for a in answers] == ["a", "b"]
    expected = predictor.scores([ROW, {**ROW, "color": "blue"}])
    assert [p["probability"] for p in answers[1]["predictions"]] == pytest.approx(expected)
    logged = log.read()
    assert logged["request_id"].tolist() == ["a", "b", "b"]
    assert set(logged["channel"]) == {"stream"}
    log.close()


def test_a_message_without_an_id_is_answered_under_the_brokers_id(
    broker, predictor, tmp_path, clock
):
    with PredictionLog(tmp_path) as log:
        _, answers, _ = _run(broker, predictor, log, clock, [orjson.dumps({"rows": [ROW]})])
    assert len(answers) == 1
    assert answers[0]["request_id"]  # the stream sequence or entry id: stable on redelivery


def test_poison_messages_are_dead_lettered_with_the_reason(broker, predictor, tmp_path, clock):
    messages = [b"{not json", _request("bad", [{**ROW, "size": "big"}]), _request("good")]
    with PredictionLog(tmp_path) as log:
        stats, answers, dead = _run(broker, predictor, log, clock, messages)
        logged = log.read()
    # The refused request is logged as such, for monitoring to count; only "good" answered.
    assert logged["request_id"].tolist() == ["bad", "good"]
    assert logged["rejected"].iloc[0] == ["size: not a number"]
    assert logged["probability"].notna().tolist() == [False, True]
    assert [a["request_id"] for a in answers] == ["good"]
    assert stats.dead_lettered == 2
    assert dead[0]["reason"].startswith("not JSON")
    assert dead[0]["message"] == "{not json"
    assert dead[1]["request_id"] is None
    assert dead[1]["errors"][0]["loc"] == ["rows", 0, "size"]
    assert "does not match the signature of toy/4" in dead[1]["reason"]


def test_a_failure_is_retried_then_answered(broker, predictor, tmp_path, clock, monkeypatch):
    calls = {"n": 0}
    original = predictor.features

    def flaky(rows):
        calls["n"] += 1
        if calls["n"] == 1:
            raise ConnectionError("online store unreachable")
        return original(rows)

    monkeypatch.setattr(predictor, "features", flaky)
    with PredictionLog(tmp_path) as log:
        stats, answers, dead = _run(broker, predictor, log, clock, [_request("r")], idle=3.0)
    assert (stats.retried, stats.answered, dead) == (1, 1, [])
    assert [a["request_id"] for a in answers] == ["r"]


def test_a_request_failing_every_delivery_ends_in_the_dead_letters(
    broker, predictor, tmp_path, clock, monkeypatch
):
    def broken(rows):
        raise ConnectionError("online store unreachable")

    monkeypatch.setattr(predictor, "features", broken)
    with PredictionLog(tmp_path) as log:
        stats, answers, dead = _run(broker, predictor, log, clock, ([_request("r")], 2), idle=3.0)
    assert answers == []
    assert stats.dead_lettered == 1
    assert dead[0]["request_id"] == "r"
    assert dead[0]["reason"] == ("failed on each of 2 deliveries; last: online store unreachable")
