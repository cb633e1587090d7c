"""Answering under a policy of more than one arm: route the caller, let a candidate score
off the server's loop with a deadline, answer with the primary arm whenever the
candidate cannot, and score shadows after the answer is on its way.

A row an arm scores in a few bounded microseconds (`Predictor.quick`: compiled trees, no
lookup) is scored on the loop instead: nothing there can hang, and a thread hand-off on
a busy core costs ten times the scoring.

A candidate that raises, misses `timeout_ms`, returns a non-finite score or refuses a
row the primary accepts never fails a caller: the primary answers, and the row is logged
under the candidate's arm with the `fallback` reason, so the analysis counts it against
the candidate. A shadow's outcome touches nobody's answer; only its good scores are
logged, with `shadow: true`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from pydantic import ValidationError

from prodml.clock import Clock
from prodml.predlog import PredictionLog, PredictionRecord
from prodml.registry import ModelVersionInfo
from prodml.serve.answering import Scored, deliver, logged, score
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
        self._copies: dict[tuple[str, Predictor], list[_Copy]] = {}  # shadows' next batch

    async def answer(
        self,
        routing: Routing,
        rows: Sequence[Mapping[str, Any]],
        request_id: str,
        *,
        channel: str,
        explain: int,
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
        explain: int,
    ) -> Scored:
        """`predictor`'s scores of `rows`: on the loop when quick, else on the arm's lane
        within the deadline."""
        schema = routing.own_schema.get(arm)
        timer = None
        try:
            if not explain and predictor.quick(rows):
                return _scored(predictor, schema, rows, 0)
            lane = self._lane(arm)
            if lane.pending >= self.max_pending:
                raise _Refused(BUSY)
            future = lane.submit(_scored, predictor, schema, rows, explain)
            timer = asyncio.get_running_loop().call_later(self.timeout, _expire, future)
            return cast(Scored, await future)
        except Exception as exc:
            raise _Refused(_refusal(exc, arm, predictor)) from None
        finally:
            if timer is not None:
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
        """Queue a copy of the request for each shadow arm. The copies of one turn of the
        event loop go to the arm's lane together, once this request's answer is on its
        way, and are logged in one write: the caller never waits for a shadow, and a
        shadow that hangs only fills its own lane (then copies are dropped as busy)."""
        for arm, predictor in routing.shadows:
            key = (arm.name, predictor)
            copies = self._copies.get(key)
            if copies is None:
                copies = self._copies[key] = []
                asyncio.get_running_loop().call_soon(self._flush, routing, arm.name, predictor)
            copies.append(_Copy(rows, request_id, channel))

    def _flush(self, routing: Routing, arm: str, predictor: Predictor) -> None:
        copies = self._copies.pop((arm, predictor))
        quick = [copy for copy in copies if predictor.quick(copy.rows)]
        if quick:  # bounded: scored here, once the answers of this turn are on their way
            self._shadow(None, routing, arm, predictor, quick)
            copies = [copy for copy in copies if not predictor.quick(copy.rows)]
        if not copies:
            return
        lane = self._lane(arm)
        if lane.pending >= self.max_pending:
            self._count(routing, arm, [BUSY] * len(copies))
            return
        loop = asyncio.get_running_loop()
        lane.run(self._shadow, loop, routing, arm, predictor, copies)

    def _shadow(
        self,
        loop: asyncio.AbstractEventLoop | None,
        routing: Routing,
        arm: str,
        predictor: Predictor,
        copies: list[_Copy],
    ) -> None:
        """On the shadow's lane (or on the `loop` itself, given None): score the copies
        and log the good scores in one write. A lane's loop hears of it only when a copy
        failed (it keeps the counts), so a healthy shadow costs it nothing more."""
        schema, tags = routing.own_schema.get(arm), routing.tags(arm)
        records, failed = list[PredictionRecord](), list[str]()
        for copy in copies:
            try:
                scored = _scored(predictor, schema, copy.rows, False)
            except Exception as exc:  # one bad copy does not spoil the others
                failed.append(_refusal(exc, arm, predictor, warn=False))
                continue
            records += logged(
                predictor, copy.rows, scored, copy.request_id, self.clock, copy.channel,
                copy.started, tags,
            )  # fmt: skip
        try:
            if records:
                self.log.append(records)
        except Exception:  # a shadow's log write failing is not the caller's business
            logger.exception("Could not log shadow arm %s's scores", arm)
        if not failed:
            return
        if loop is None:
            self._count(routing, arm, failed)
            return
        with contextlib.suppress(RuntimeError):  # a closed loop counts nothing more
            loop.call_soon_threadsafe(self._count, routing, arm, failed)

    def _count(self, routing: Routing, arm: str, kinds: list[str]) -> None:
        for kind in kinds:
            self._fell_back(routing, arm, kind)


@dataclass(frozen=True)
class _Copy:
    """A request's copy for a shadow arm."""

    rows: Sequence[Mapping[str, Any]]
    request_id: str
    channel: str
    started: float = field(default_factory=time.perf_counter)


def _refusal(exc: Exception, arm: str, predictor: Predictor, *, warn: bool = True) -> str:
    """Why an arm's score of a request cannot be used, from what scoring it raised (an
    unexpected error is logged when `warn`: a shadow's are only counted)."""
    if isinstance(exc, _Refused):
        return exc.kind
    if isinstance(exc, TimeoutError):
        return TIMEOUT
    if isinstance(exc, ValidationError):
        return INVALID
    logger.warning("Arm %s (version %s) failed to score", arm, predictor.info.version, exc_info=exc)
    return RAISED


def _expire(future: asyncio.Future[Any]) -> None:
    if not future.done():
        future.set_exception(TimeoutError())


def _scored(
    predictor: Predictor,
    schema: Any,
    rows: Sequence[Mapping[str, Any]],
    explain: int,
) -> Scored:
    """On a worker thread: validate rows against an arm's own schema (if it differs from
    the primary's), score them, and refuse a non-finite score."""
    if schema is not None:
        rows = [schema.model_validate(row).model_dump() for row in rows]
    scored = score(predictor, rows, explain=explain)
    if not all(math.isfinite(p.score) for p in scored.predictions):
        raise _Refused(NON_FINITE)
    return scored
