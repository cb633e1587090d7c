"""One request answered, whichever way it came (HTTP, a stream message): features looked
up, rows scored with their uncertainty and, if asked, explained; every row is in the
prediction log before the answer leaves."""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any, cast

from prodml.clock import Clock
from prodml.predlog import PredictionLog, PredictionRecord
from prodml.serve.predictor import Prediction, Predictor


def answer(
    predictor: Predictor,
    rows: Sequence[Mapping[str, Any]],
    request_id: str,
    *,
    log: PredictionLog,
    clock: Clock,
    channel: str,
    explain: bool = False,
    started: float | None = None,
    features: Sequence[Mapping[str, Any]] | None = None,
) -> tuple[dict[str, Any], list[Prediction]]:
    """The response document for validated `rows`, and the predictions in it.

    `channel` ("http", "stream") is recorded with each logged row; `started` is when the
    request arrived (`time.perf_counter()`), so the logged latency covers parsing too.
    `features` are the rows already enriched (`Predictor.features_async`), if they were.
    """
    started = time.perf_counter() if started is None else started
    info = predictor.info
    if features is None:
        features = predictor.features(rows)
    predictions = predictor.predict(features)
    predicted = [p.to_dict() for p in predictions]
    answers = predicted
    if explain:
        explained = predictor.explain(features)
        answers = [{**a, **e} for a, e in zip(predicted, explained, strict=True)]
    latency_ms = (time.perf_counter() - started) * 1000
    now = clock.now()
    # orjson writes a datetime as isoformat() would, faster; a subclass (pandas' Timestamp)
    # it would pass to str(), which differs, so that one is formatted here.
    stamp = now if type(now) is datetime else now.isoformat()
    # The answer's own fields (probability, label, set; or value, interval) are spread
    # from Prediction.to_dict, which the type checker cannot follow into the TypedDict.
    records = cast(
        "Iterator[PredictionRecord]",
        (
            {
                "request_id": request_id,
                "row": i,
                "timestamp": stamp,
                "channel": channel,
                "model": info.name,
                "version": info.version,
                "inputs": row,
                "features": _stored(row, enriched),
                **answered,
                "coverage": predictor.coverage,
                "latency_ms": latency_ms,
            }
            for i, (row, enriched, answered) in enumerate(
                zip(rows, features, predicted, strict=True)
            )
        ),
    )
    log.append(records)
    document = {
        "request_id": request_id,
        "model": {"name": info.name, "version": info.version},
        "coverage": predictor.coverage,
        "predictions": answers,
    }
    return document, predictions


def _stored(row: Mapping[str, Any], enriched: Mapping[str, Any]) -> dict[str, Any]:
    """The features the feature store added to a request row."""
    return {} if enriched is row else {k: v for k, v in enriched.items() if k not in row}
