"""One request answered, whichever way it came (HTTP, a stream message): features looked
up, rows scored with their uncertainty and, if asked, explained; every row is in the
prediction log before the answer leaves.

`score` and `deliver` are the two halves of `answer`, apart so a deployment's router can
score a candidate on a thread of its own, with a deadline, and still log and answer on
the server's loop (see `routed.py`).
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from prodml.clock import Clock
from prodml.predlog import PredictionLog, PredictionRecord
from prodml.serve.predictor import Prediction, Predictor


@dataclass(frozen=True, slots=True)
class Scored:
    """Rows scored by one predictor: the model's input rows, the predictions, each as the
    log keeps it, and each as the response carries it (explained, if asked)."""

    features: Sequence[Mapping[str, Any]]
    predictions: list[Prediction]
    predicted: list[dict[str, Any]]
    answers: list[dict[str, Any]]


def score(
    predictor: Predictor,
    rows: Sequence[Mapping[str, Any]],
    *,
    explain: int = 0,
    features: Sequence[Mapping[str, Any]] | None = None,
) -> Scored:
    """Validated `rows` scored and, if `explain` > 0, explained by their `explain` top
    reasons; `features` are the rows already enriched (`Predictor.features_async`), if
    they were."""
    if features is None:
        features = predictor.features(rows)
    predictions = predictor.predict(features)
    predicted = [p.to_dict() for p in predictions]
    answers = predicted
    if explain:
        explained = predictor.explain(features, top=explain)
        answers = [{**a, **e} for a, e in zip(predicted, explained, strict=True)]
    return Scored(features, predictions, predicted, answers)


def deliver(
    predictor: Predictor,
    rows: Sequence[Mapping[str, Any]],
    scored: Scored,
    request_id: str,
    *,
    log: PredictionLog,
    clock: Clock,
    channel: str,
    started: float,
    route: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Log each scored row and return the response document.

    `route` (the deployment, the arm, a fallback's reason; `Routing.tags`) is added to
    every logged row and to the document; `started` is when the request arrived
    (`time.perf_counter()`), so the logged latency covers parsing too.
    """
    info = predictor.info
    route = route or {}
    records = logged(predictor, rows, scored, request_id, clock, channel, started, route)
    log.append(records)
    document = {
        "request_id": request_id,
        "model": {"name": info.name, "version": info.version},
        **{k: v for k, v in route.items() if k != "shadow"},
        "coverage": predictor.coverage,
        "predictions": scored.answers,
    }
    return document


def logged(
    predictor: Predictor,
    rows: Sequence[Mapping[str, Any]],
    scored: Scored,
    request_id: str,
    clock: Clock,
    channel: str,
    started: float,
    route: Mapping[str, Any],
) -> Iterator[PredictionRecord]:
    """The prediction log's records of scored `rows` (see `deliver`), not yet written."""
    info = predictor.info
    latency_ms = (time.perf_counter() - started) * 1000
    now = clock.now()
    # orjson writes a datetime as isoformat() would, faster; a subclass (pandas' Timestamp)
    # it would pass to str(), which differs, so that one is formatted here.
    stamp = now if type(now) is datetime else now.isoformat()
    # The answer's own fields (probability, label, set; or value, interval) are spread
    # from Prediction.to_dict, which the type checker cannot follow into the TypedDict.
    return cast(
        "Iterator[PredictionRecord]",
        (
            {
                "request_id": request_id,
                "row": i,
                "timestamp": stamp,
                "channel": channel,
                "model": info.name,
                "version": info.version,
                "inputs": predictor.logged_inputs(row),
                "features": _stored(row, enriched),
                **answered,
                "coverage": predictor.coverage,
                "latency_ms": latency_ms,
                **route,
            }
            for i, (row, enriched, answered) in enumerate(
                zip(rows, scored.features, scored.predicted, strict=True)
            )
        ),
    )


def answer(
    predictor: Predictor,
    rows: Sequence[Mapping[str, Any]],
    request_id: str,
    *,
    log: PredictionLog,
    clock: Clock,
    channel: str,
    explain: int = 0,
    started: float | None = None,
    features: Sequence[Mapping[str, Any]] | None = None,
    route: Mapping[str, Any] | None = None,
) -> tuple[dict[str, Any], list[Prediction]]:
    """The response document for validated `rows`, and the predictions in it: `score`
    then `deliver`. `channel` ("http", "stream") is recorded with each logged row."""
    started = time.perf_counter() if started is None else started
    scored = score(predictor, rows, explain=explain, features=features)
    document = deliver(
        predictor,
        rows,
        scored,
        request_id,
        log=log,
        clock=clock,
        channel=channel,
        started=started,
        route=route,
    )
    return document, scored.predictions


def _stored(row: Mapping[str, Any], enriched: Mapping[str, Any]) -> dict[str, Any]:
    """The features the feature store added to a request row."""
    return {} if enriched is row else {k: v for k, v in enriched.items() if k not in row}
