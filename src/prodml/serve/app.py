"""The real-time HTTP API: predict, describe the model, health, and Prometheus metrics.

Bad input is answered with 4xx and a field-level body in FastAPI's shape
(``{"detail": [{"loc": [...], "msg": ..., "type": ...}]}``), never a 500.
"""

# No `from __future__ import annotations` here: FastAPI must see the request model built
# inside `create_app` as a class, not as a string it cannot resolve.
import math
import time
import uuid
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from pydantic import BaseModel, Field, create_model

from prodml.clock import Clock
from prodml.errors import InputError, PayloadTooLargeError, ProdmlError
from prodml.serve.predictor import Predictor
from prodml.serve.predlog import PredictionLog

_SCORE_BUCKETS = tuple(i / 10 for i in range(1, 11))


class _Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        labels = ("model", "version")
        self.requests = Counter(
            "prodml_requests", "Prediction requests", [*labels, "status"], registry=self.registry
        )
        self.latency = Histogram(
            "prodml_request_latency_seconds", "Time to answer", labels, registry=self.registry
        )
        self.scores = Histogram(
            "prodml_prediction_score",
            "Predicted probabilities",
            labels,
            buckets=_SCORE_BUCKETS,
            registry=self.registry,
        )


def create_app(
    predictor: Predictor, log: PredictionLog, clock: Clock, *, max_batch_rows: int = 1000
) -> FastAPI:
    """An API serving `predictor`, logging every answered prediction to `log`."""
    info = predictor.info
    metrics = _Metrics()
    labels = {"model": info.name, "version": info.version}
    row_schema = predictor.row_schema
    request_model: type[BaseModel] = create_model(
        "PredictRequest",
        rows=(list[row_schema], Field(min_length=1)),  # type: ignore[valid-type]
    )
    app = FastAPI(
        title=f"prodml · {info.name}",
        version=info.version,
        description=f"Predictions of model {info.name} version {info.version}.",
    )

    @app.exception_handler(ProdmlError)
    async def _prodml_error(_: Request, exc: ProdmlError) -> JSONResponse:
        metrics.requests.labels(**labels, status=str(exc.http_status)).inc()
        errors = exc.errors if isinstance(exc, InputError) else []
        return JSONResponse(
            {"detail": errors or [{"loc": [], "msg": exc.message, "type": type(exc).__name__}]},
            status_code=exc.http_status,
        )

    @app.exception_handler(RequestValidationError)
    async def _invalid_request(_: Request, exc: RequestValidationError) -> JSONResponse:
        metrics.requests.labels(**labels, status="422").inc()
        return JSONResponse({"detail": [_field_error(e) for e in exc.errors()]}, status_code=422)

    @app.post("/v1/predict")
    def predict(body: request_model, request: Request) -> dict[str, Any]:  # type: ignore[valid-type]
        started = time.perf_counter()
        rows = [row.model_dump() for row in body.rows]  # type: ignore[attr-defined]
        if len(rows) > max_batch_rows:
            raise PayloadTooLargeError("too many rows", [_too_many(len(rows), max_batch_rows)])
        request_id = request.headers.get("x-request-id") or uuid.uuid4().hex
        predictions = predictor.predict(rows)
        latency = time.perf_counter() - started
        now = clock.now().isoformat()
        log.append(
            {
                "request_id": request_id,
                "row": i,
                "timestamp": now,
                "model": info.name,
                "version": info.version,
                "inputs": row,
                "label": p.label,
                "probability": p.probability,
                "latency_ms": latency * 1000,
            }
            for i, (row, p) in enumerate(zip(rows, predictions, strict=True))
        )
        metrics.requests.labels(**labels, status="200").inc()
        metrics.latency.labels(**labels).observe(time.perf_counter() - started)
        for p in predictions:
            metrics.scores.labels(**labels).observe(p.probability)
        return {
            "request_id": request_id,
            "model": {"name": info.name, "version": info.version},
            "predictions": [{"label": p.label, "probability": p.probability} for p in predictions],
        }

    @app.get("/v1/models")
    def models() -> dict[str, Any]:
        return {
            "name": info.name,
            "version": info.version,
            "aliases": list(info.aliases),
            "flavor": predictor.model.flavor,
            "threshold": predictor.threshold,
            "features": row_schema.model_json_schema(),
        }

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz")
    def readyz() -> dict[str, str]:
        return {"status": "ready", "model": info.name, "version": info.version}

    @app.get("/metrics")
    def prometheus() -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return app


def _field_error(error: dict[str, Any]) -> dict[str, Any]:
    """FastAPI's error entry, made JSON-safe: a NaN input must not turn a 422 into a 500."""
    out = {"loc": list(error["loc"]), "msg": error["msg"], "type": error["type"]}
    value = error.get("input")
    if isinstance(value, float) and not math.isfinite(value):
        out["input"] = str(value)
    elif isinstance(value, str | int | float | bool) or value is None:
        out["input"] = value
    return out


def _too_many(got: int, limit: int) -> dict[str, Any]:
    return {
        "loc": ["body", "rows"],
        "msg": f"{got} rows sent; at most {limit} per request (serving.max_batch_rows). "
        "Split the batch, or use `prodml score` for bulk scoring.",
        "type": "too_many_rows",
    }
