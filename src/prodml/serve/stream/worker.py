"""The stream worker: each request message validated, answered by the served predictor,
logged, published, then acknowledged — in that order, so a crash at any point redelivers
the message rather than losing it (at-least-once).

A request message is the HTTP body plus an optional id: ``{"request_id": "...", "rows":
[...]}``; without an id, the broker's message id stands in, which is the same on every
redelivery. Idempotence: the answer is published under the request id, which the broker
deduplicates, and a request id answered by this worker is not answered twice.

A message that can never be answered — not JSON, a row that breaks the model's signature —
goes to the dead-letter subject at once with the reason and the field errors. One that fails
for another reason is retried with a growing delay, and dead-lettered after the backend's
`max_deliveries`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import orjson
from pydantic import ValidationError

from prodml.clock import Clock
from prodml.predlog import PredictionLog
from prodml.serve.answering import answer
from prodml.serve.deployment import Deployment
from prodml.serve.rejects import request_rejects
from prodml.serve.schemas import rows_of
from prodml.serve.stream.base import Message, StreamBackend

logger = logging.getLogger(__name__)


@dataclass
class StreamStats:
    answered: int = 0
    duplicates: int = 0
    dead_lettered: int = 0
    retried: int = 0


class _Poison(Exception):
    """A message that no retry can answer."""

    def __init__(self, reason: str, errors: list[dict[str, Any]] | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.errors = errors or []


class StreamWorker:
    """Answers the messages of `backend` with `deployment`'s current predictor."""

    def __init__(
        self,
        backend: StreamBackend,
        deployment: Deployment,
        log: PredictionLog,
        clock: Clock,
        *,
        batch: int = 64,
        remember: int = 100_000,
    ) -> None:
        self.backend = backend
        self.deployment = deployment
        self.log = log
        self.clock = clock
        self.batch = batch
        self.stats = StreamStats()
        self._answered: OrderedDict[str, None] = OrderedDict()  # bounded: the newest ids
        self._remember = remember

    async def run(
        self, *, stop: asyncio.Event | None = None, idle_seconds: float | None = None
    ) -> StreamStats:
        """Answer messages until `stop` is set or, with `idle_seconds`, until none came
        for that long."""
        stop = stop or asyncio.Event()
        idle_since = time.monotonic()
        while not stop.is_set():
            messages = await self.backend.fetch(self.batch, timeout=1.0)
            if not messages:
                if idle_seconds is not None and time.monotonic() - idle_since >= idle_seconds:
                    break
                continue
            for message in messages:
                await self.handle(message)
            idle_since = time.monotonic()
        return self.stats

    async def handle(self, message: Message) -> None:
        started = time.perf_counter()
        try:
            request_id, rows = self._parse(message)
        except _Poison as poison:
            await self._dead(message, None, poison.reason, poison.errors)
            return
        if request_id in self._answered:
            self.stats.duplicates += 1
            await self.backend.ack(message)
            return
        try:
            document, _ = answer(
                self.deployment.current,
                rows,
                request_id,
                log=self.log,
                clock=self.clock,
                channel="stream",
                started=started,
            )
            await self.backend.publish(request_id, orjson.dumps(document))
        except Exception as exc:
            if message.deliveries >= self.backend.max_deliveries:
                reason = f"failed on each of {message.deliveries} deliveries; last: {exc}"
                await self._dead(message, request_id, reason)
                return
            logger.warning("request %s failed (%s); it will be retried", request_id, exc)
            self.stats.retried += 1
            await self.backend.retry(message, delay=min(30.0, 0.5 * 2**message.deliveries))
            return
        self._remember_answered(request_id)
        self.stats.answered += 1
        await self.backend.ack(message)

    def _parse(self, message: Message) -> tuple[str, list[dict[str, Any]]]:
        try:
            document = orjson.loads(message.data)
        except orjson.JSONDecodeError as exc:
            raise _Poison(f"not JSON: {exc}") from None
        if not isinstance(document, dict):
            raise _Poison('a request is a JSON object: {"request_id": ..., "rows": [...]}')
        request_id = document.pop("request_id", None) or message.id
        if not isinstance(request_id, str):
            raise _Poison(f"request_id must be a string, not {type(request_id).__name__}")
        predictor = self.deployment.current
        try:
            body = predictor.request_model.model_validate(document)
        except ValidationError as exc:
            rejects = request_rejects(
                document,
                exc.errors(),
                request_id=request_id,
                info=predictor.info,
                timestamp=self.clock.now(),
                channel="stream",
                private=predictor.logged_sent,
            )
            self.log.append(rejects)  # counted by monitoring, as the HTTP API's refusals are
            errors = [
                {"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]} for e in exc.errors()
            ]
            raise _Poison(f"does not match the signature of {predictor.info.ref}", errors) from None
        return request_id, rows_of(body)

    async def _dead(
        self,
        message: Message,
        request_id: str | None,
        reason: str,
        errors: list[dict[str, Any]] | None = None,
    ) -> None:
        body = {
            "reason": reason,
            "errors": errors or [],
            "request_id": request_id,
            "message_id": message.id,
            "deliveries": message.deliveries,
            "message": message.data.decode("utf-8", "replace"),
        }
        await self.backend.dead_letter(message, orjson.dumps(body))
        await self.backend.ack(message)
        self.stats.dead_lettered += 1
        logger.warning("message %s dead-lettered: %s", message.id, reason)

    def _remember_answered(self, request_id: str) -> None:
        self._answered[request_id] = None
        if len(self._answered) > self._remember:
            self._answered.popitem(last=False)
