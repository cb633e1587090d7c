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
import functools
import logging
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from pydantic import ValidationError

from prodml.clock import Clock
from prodml.predlog import PredictionLog
from prodml.registry import ModelVersionInfo
from prodml.serve.answering import Scored, deliver, score
from prodml.serve.lanes import Lane
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
    kind)` is told of each fallback (the server's metrics count them). Each arm scores on a
    lane of its own (see `lanes.py`); a request that finds `max_pending` jobs on its arm's
    lane is answered by the primary at once (a hung candidate must not queue callers)."""

    def __init__(
        self,
        log: PredictionLog,
        clock: Clock,
        *,
        timeout_ms: float = 50.0,
        max_pending: int = 32,
        on_fallback: Callable[[str, str, str], None] | None = None,
    ) -> None:
        self.log, self.clock = log, clock
        self.timeout = timeout_ms / 1000
        self.max_pending = max_pending
        self.on_fallback = on_fallback
        self._lanes: dict[str, Lane] = {}

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
        """`predictor`'s scores of `rows` on the arm's lane, within the deadline."""
        lane = self._lane(arm)
        if lane.pending >= self.max_pending:
            raise _Refused(BUSY)
        future = lane.submit(_scored, predictor, routing.own_schema.get(arm), rows, explain)
        timer = asyncio.get_running_loop().call_later(self.timeout, _expire, future)
        try:
            return cast(Scored, await future)
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
        finally:
            timer.cancel()

    def _lane(self, arm: str) -> Lane:
        lane = self._lanes.get(arm)
        if lane is None:
            lane = self._lanes[arm] = Lane(arm)
        return lane

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
        """Score a copy of the request with each shadow arm on the arm's lane, and log it
        when done: the caller's answer never waits for it, and a shadow that hangs only
        fills its own lane (then copies are dropped, counted as busy)."""
        for arm, predictor in routing.shadows:
            lane = self._lane(arm.name)
            if lane.pending >= self.max_pending:
                self._fell_back(routing, arm.name, BUSY)
                continue
            schema = routing.own_schema.get(arm.name)
            future = lane.submit(_scored, predictor, schema, rows, False)
            copy = _Copy(routing, arm.name, predictor, rows, request_id, channel)
            future.add_done_callback(functools.partial(self._shadowed, copy))

    def _shadowed(self, copy: _Copy, future: asyncio.Future[Any]) -> None:
        """On the loop, once a shadow has scored its copy: log it, or count why not."""
        error = future.exception()
        if error is None:
            tags = copy.routing.tags(copy.arm)
            try:
                self._deliver(tags, copy.predictor, copy.rows, future.result(), copy.request_id,
                              copy.channel, copy.started)  # fmt: skip
            except Exception:  # a shadow's log write failing is not the caller's business
                logger.exception("Could not log shadow arm %s's scores", copy.arm)
            return
        kind = error.kind if isinstance(error, _Refused) else RAISED
        kind = INVALID if isinstance(error, ValidationError) else kind
        self._fell_back(copy.routing, copy.arm, kind)


@dataclass(frozen=True)
class _Copy:
    """A request's copy sent to a shadow arm."""

    routing: Routing
    arm: str
    predictor: Predictor
    rows: Sequence[Mapping[str, Any]]
    request_id: str
    channel: str
    started: float = field(default_factory=time.perf_counter)


def _expire(future: asyncio.Future[Any]) -> None:
    if not future.done():
        future.set_exception(TimeoutError())


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
