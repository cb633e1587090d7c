"""Answering under a policy of more than one arm: route the caller, let a candidate score
off the server's loop with a deadline, answer with the primary arm whenever the
candidate cannot, and score shadows after the answer is on its way.

A candidate that raises, misses `timeout_ms`, returns a non-finite score or refuses a
row the primary accepts never fails a caller: the primary answers, and the row is logged
under the candidate's arm with the `fallback` reason, so the analysis counts it against
the candidate. A shadow's outcome touches nobody's answer; only its good scores are
logged, with `shadow: true`.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from pydantic import ValidationError

from prodml.clock import Clock
from prodml.predlog import PredictionLog
from prodml.registry import ModelVersionInfo
from prodml.serve.answering import Scored, deliver, score
from prodml.serve.predictor import Prediction, Predictor
from prodml.serve.routing import Routing

logger = logging.getLogger(__name__)

# Why a candidate's caller was answered by the primary arm.
RAISED, TIMEOUT, NON_FINITE, INVALID, UNAVAILABLE, BUSY = (
    "raised",
    "timeout",
    "non_finite",
    "invalid",
    "unavailable",
    "busy",
)
FALLBACKS = (RAISED, TIMEOUT, NON_FINITE, INVALID, UNAVAILABLE, BUSY)


class _Refused(Exception):
    """A candidate's score is not one to answer with."""

    def __init__(self, kind: str) -> None:
        super().__init__(kind)
        self.kind = kind


class RoutedAnswers:
    """Answers requests under a `Routing`, logging to `log`. `on_fallback(deployment, arm,
    kind)` is told of each fallback (the server's metrics count them); at most `threads` candidate
    or shadow scorings run at once, and a request that finds them all busy is answered by
    the primary at once (a hung candidate must not queue the callers behind it)."""

    def __init__(
        self,
        log: PredictionLog,
        clock: Clock,
        *,
        timeout_ms: float = 50.0,
        threads: int = 4,
        on_fallback: Callable[[str, str, str], None] | None = None,
    ) -> None:
        self.log, self.clock = log, clock
        self.timeout = timeout_ms / 1000
        self.threads = threads
        self.on_fallback = on_fallback
        self._pool = ThreadPoolExecutor(threads, thread_name_prefix="prodml-arm")
        self._running = 0
        self._shadowing: set[asyncio.Task[None]] = set()

    async def answer(
        self,
        routing: Routing,
        rows: Sequence[Mapping[str, Any]],
        request_id: str,
        *,
        channel: str,
        explain: bool,
        started: float,
    ) -> tuple[dict[str, Any], list[Prediction], ModelVersionInfo]:
        """The response document, its predictions and the version that answered."""
        arm = routing.pick(rows[0], request_id)
        fallback = None
        if arm.name != routing.primary_arm.name:
            candidate = routing.predictors.get(arm.name)
            try:
                if candidate is None:
                    raise _Refused(UNAVAILABLE)
                scored = await self._score(routing, arm.name, candidate, rows, explain)
            except _Refused as refused:
                fallback = refused.kind
                self._fell_back(routing, arm.name, fallback)
            else:
                tags = routing.tags(arm.name)
                document = self._deliver(
                    tags, candidate, rows, scored, request_id, channel, started
                )
                self._shade(routing, rows, request_id, channel)
                return document, scored.predictions, candidate.info
        primary = routing.primary
        features = await primary.features_async(rows)
        scored = score(primary, rows, explain=explain, features=features)
        tags = routing.tags(arm.name, fallback=fallback)
        document = self._deliver(tags, primary, rows, scored, request_id, channel, started)
        self._shade(routing, rows, request_id, channel)
        return document, scored.predictions, primary.info

    def _fell_back(self, routing: Routing, arm: str, kind: str) -> None:
        if self.on_fallback is not None:
            self.on_fallback(routing.deployment or "", arm, kind)

    async def _score(
        self,
        routing: Routing,
        arm: str,
        predictor: Predictor,
        rows: Sequence[Mapping[str, Any]],
        explain: bool,
    ) -> Scored:
        """`predictor`'s scores of `rows` on a worker thread, within the deadline."""
        if self._running >= self.threads:
            raise _Refused(BUSY)
        schema = routing.own_schema.get(arm)
        self._running += 1
        future = asyncio.get_running_loop().run_in_executor(
            self._pool, _scored, predictor, schema, rows, explain
        )
        future.add_done_callback(self._finished)
        try:
            scored = await asyncio.wait_for(asyncio.shield(future), self.timeout)
        except TimeoutError:
            raise _Refused(TIMEOUT) from None
        except _Refused:
            raise
        except ValidationError:
            raise _Refused(INVALID) from None
        except Exception:
            logger.warning(
                "Arm %s (version %s) failed to score", arm, predictor.info.version, exc_info=True
            )
            raise _Refused(RAISED) from None
        return scored

    def _finished(self, _: object) -> None:
        # Runs on the loop when the thread is done, on time or late: only then is it free.
        self._running -= 1

    def _deliver(
        self,
        tags: dict[str, Any],
        predictor: Predictor,
        rows: Sequence[Mapping[str, Any]],
        scored: Scored,
        request_id: str,
        channel: str,
        started: float,
    ) -> dict[str, Any]:
        return deliver(
            predictor,
            rows,
            scored,
            request_id,
            log=self.log,
            clock=self.clock,
            channel=channel,
            started=started,
            route=tags,
        )

    def _shade(
        self, routing: Routing, rows: Sequence[Mapping[str, Any]], request_id: str, channel: str
    ) -> None:
        """Score a copy of the request with each shadow arm, once the caller's answer is
        on its way (the task runs when this request's coroutine has returned)."""
        for arm, predictor in routing.shadows:
            task = asyncio.get_running_loop().create_task(
                self._shadow(routing, arm.name, predictor, rows, request_id, channel)
            )
            self._shadowing.add(task)  # held, or the loop may drop it half-way
            task.add_done_callback(self._shadowing.discard)

    async def _shadow(
        self,
        routing: Routing,
        arm: str,
        predictor: Predictor,
        rows: Sequence[Mapping[str, Any]],
        request_id: str,
        channel: str,
    ) -> None:
        started = time.perf_counter()
        try:
            scored = await self._score(routing, arm, predictor, rows, explain=False)
        except _Refused as refused:
            self._fell_back(routing, arm, refused.kind)
            return
        try:
            tags = routing.tags(arm)
            self._deliver(tags, predictor, rows, scored, request_id, channel, started)
        except Exception:  # a shadow's log write failing is not the caller's business
            logger.exception("Could not log shadow arm %s's scores", arm)


def _scored(
    predictor: Predictor,
    schema: Any,
    rows: Sequence[Mapping[str, Any]],
    explain: bool,
) -> Scored:
    """On a worker thread: validate rows against an arm's own schema (if it differs from
    the primary's), score them, and refuse a non-finite score."""
    if schema is not None:
        rows = [schema.model_validate(row).model_dump() for row in rows]
    scored = score(predictor, rows, explain=explain)
    if not all(math.isfinite(p.score) for p in scored.predictions):
        raise _Refused(NON_FINITE)
    return scored
