"""The real-time HTTP API: predict, describe the model, health, and Prometheus metrics.

Bad input is answered with 4xx and a field-level body in FastAPI's shape
(``{"detail": [{"loc": [...], "msg": ..., "type": ...}]}``), never a 500; an unexpected
server fault is a 500 with the same shape, counted in the metrics, never a stack trace.
"""

# No `from __future__ import annotations` here: FastAPI must see the request model built
# inside `create_app` as a class, not as a string it cannot resolve.
import logging
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
from pydantic import BaseModel, ConfigDict, Field, create_model
from starlette.exceptions import HTTPException

from prodml.clock import Clock
from prodml.errors import InputError, ProdmlError
from prodml.serve.predictor import Predictor
from prodml.serve.predlog import PredictionLog

logger = logging.getLogger(__name__)
_SCORE_BUCKETS = tuple(i / 10 for i in range(1, 11))


class _Metrics:
    def __init__(self, model: str, version: str) -> None:
        self.registry = CollectorRegistry()
        labels = ("model", "version")
        self.labels = {"model": model, "version": version}
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

    def answered(self, status: int) -> None:
        self.requests.labels(**self.labels, status=str(status)).inc()


def create_app(
    predictor: Predictor, log: PredictionLog, clock: Clock, *, max_batch_rows: int = 1000
) -> FastAPI:
    """An API serving `predictor`, logging every answered prediction to `log`."""
    info = predictor.info
    metrics = _Metrics(info.name, info.version)
    row_schema = predictor.row_schema
    request_model: type[BaseModel] = create_model(
        "PredictRequest",
        __config__=ConfigDict(extra="forbid"),
        # pydantic stops at max_length before validating rows, so oversized bodies are cheap.
        rows=(list[row_schema], Field(min_length=1, max_length=max_batch_rows)),  # type: ignore[valid-type]
    )
    app = FastAPI(
        title=f"prodml · {info.name}",
        version=info.version,
        description=f"Predictions of model {info.name} version {info.version}.",
    )

    def reply(status: int, detail: list[dict[str, Any]]) -> JSONResponse:
        metrics.answered(status)
        return JSONResponse({"detail": detail}, status_code=status)

    @app.exception_handler(ProdmlError)
    async def _prodml_error(_: Request, exc: ProdmlError) -> JSONResponse:
        errors = exc.errors if isinstance(exc, InputError) else []
        entry = {"loc": [], "msg": exc.message, "type": type(exc).__name__}
        return reply(exc.http_status, [_safe(e) for e in errors] or [entry])

    @app.exception_handler(RequestValidationError)
    async def _invalid_request(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [_field_error(e) for e in exc.errors()]
        if any(e["type"] == "too_long" and e["loc"] == ["body", "rows"] for e in errors):
            return reply(413, [_too_many(max_batch_rows)])
        return reply(422, errors)

    @app.exception_handler(HTTPException)
    async def _http_error(_: Request, exc: HTTPException) -> JSONResponse:
        return reply(exc.status_code, [{"loc": [], "msg": str(exc.detail), "type": "http"}])

    @app.exception_handler(Exception)
    async def _server_fault(_: Request, exc: Exception) -> JSONResponse:
        logger.exception("unexpected error while answering a request")
        return reply(
            500, [{"loc": [], "msg": "internal error; see the server log", "type": "internal"}]
        )

    def answer(body: Any, request: Request, explain: bool) -> dict[str, Any]:
        started = time.perf_counter()
        rows = [row.model_dump() for row in body.rows]
        request_id = request.headers.get("x-request-id") or uuid.uuid4().hex
        features = predictor.features(rows)
        predictions = predictor.predict(features)
        explained = predictor.explain(features) if explain else None
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
                "features": {k: v for k, v in enriched.items() if k not in row},
                "label": p.label,
                "probability": p.probability,
                "latency_ms": latency * 1000,
            }
            for i, (row, enriched, p) in enumerate(zip(rows, features, predictions, strict=True))
        )
        metrics.answered(200)
        metrics.latency.labels(**metrics.labels).observe(time.perf_counter() - started)
        for p in predictions:
            metrics.scores.labels(**metrics.labels).observe(p.probability)
        answers = [{"label": p.label, "probability": p.probability} for p in predictions]
        if explained is not None:
            answers = [{**a, **e} for a, e in zip(answers, explained, strict=True)]
        return {
            "request_id": request_id,
            "model": {"name": info.name, "version": info.version},
            "predictions": answers,
        }

    @app.post("/v1/predict")
    def predict(body: request_model, request: Request) -> dict[str, Any]:  # type: ignore[valid-type]
        return answer(body, request, explain=False)

    @app.post("/v1/explain")
    def explain(body: request_model, request: Request) -> dict[str, Any]:  # type: ignore[valid-type]
        """Predictions with each row's top feature contributions (exact TreeSHAP, log-odds)."""
        return answer(body, request, explain=True)

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


def _field_error(error: Any) -> dict[str, Any]:
    """FastAPI's error entry, with only a scalar input echoed back."""
    out = {"loc": list(error["loc"]), "msg": error["msg"], "type": error["type"]}
    value = error.get("input")
    if isinstance(value, float) and not math.isfinite(value):
        out["input"] = str(value)  # JSON has no NaN: echoing it raw would turn a 422 into a 500
    elif isinstance(value, str | int | float | bool) or value is None:
        out["input"] = value
    return _safe(out)


def _safe(value: Any) -> Any:
    """`value` with every string made encodable: a lone surrogate must not break the reply."""
    if isinstance(value, str):
        return value.encode("utf-8", "backslashreplace").decode("utf-8")
    if isinstance(value, dict):
        return {_safe(k): _safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_safe(v) for v in value]
    return value


def _too_many(limit: int) -> dict[str, Any]:
    return {
        "loc": ["body", "rows"],
        "msg": f"more than {limit} rows in one request (serving.max_batch_rows). "
        "Split the batch, or score files with `prodml score`.",
        "type": "too_many_rows",
    }
