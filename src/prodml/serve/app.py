"""The real-time HTTP API: predict, describe the model, health, and Prometheus metrics.

Bad input is answered with 4xx and a field-level body in FastAPI's shape
(``{"detail": [{"loc": [...], "msg": ..., "type": ...}]}``), never a 500; an unexpected
server fault is a 500 with the same shape, counted in the metrics, never a stack trace.
"""

from __future__ import annotations

import itertools
import logging
import math
import os
import secrets
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict
from typing import Any

import orjson
from fastapi import Depends, FastAPI, Request, Response
from fastapi.openapi.utils import get_openapi
from fastapi.responses import PlainTextResponse
from fastapi.security import HTTPBearer
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.registry import Collector
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException

from prodml.clock import Clock
from prodml.errors import (
    AuthError,
    InputError,
    NotFoundError,
    ProdmlError,
    RateLimitedError,
    StateError,
)
from prodml.govern.guard import QUERY_NAMES, Guard
from prodml.govern.oversight import Overrides
from prodml.govern.privacy import looks_personal
from prodml.govern.roles import LABEL, OVERRIDE, PREDICT, READ, Principal, roles_with
from prodml.predlog import PredictionLog
from prodml.registry import ModelVersionInfo
from prodml.serve.answering import answer
from prodml.serve.deployment import Deployment
from prodml.serve.metrics import RoutingCollector, ServingMetrics
from prodml.serve.metrics_share import MetricsShare
from prodml.serve.predictor import Predictor
from prodml.serve.rejects import request_rejects
from prodml.serve.routed import RoutedAnswers
from prodml.serve.schemas import (
    EXPLAIN_TOP,
    ErrorBody,
    ExplainedResponse,
    FeedbackResponse,
    OverrideResponse,
    PredictResponse,
    override_model,
    reasons_asked,
    rows_of,
)
from prodml.store import Label, MetadataStore

logger = logging.getLogger(__name__)
_REF = "#/components/schemas/{model}"
_INTERNAL = {"loc": [], "msg": "internal error; see the server log", "type": "internal"}
_NO_LABELS = "this server was started without a metadata store, so it keeps no labels"
_NO_OVERRIDES = "this server was started without a metadata store, so it keeps no overrides"
_MAX_BODY_PER_ROW = 16 << 10  # bytes of JSON a request may spend per row it is allowed
# Request ids made here: a random prefix per process and a counter, cheaper than a UUID
# each; a process forked from this one (a pre-loading server) draws a prefix of its own.
_ID_PREFIX = secrets.token_hex(6)
_ID_COUNTER = itertools.count()


def _new_id_prefix() -> None:
    global _ID_PREFIX
    _ID_PREFIX = secrets.token_hex(6)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_new_id_prefix)


def create_app(
    served: Predictor | Deployment,
    log: PredictionLog,
    clock: Clock,
    *,
    labels: MetadataStore | None = None,
    collectors: Sequence[Collector] = (),
    candidate_timeout_ms: float = 50.0,
    guard: Guard | None = None,
    overrides: Overrides | None = None,
    history: PredictionLog | None = None,
    metrics_share: MetricsShare | None = None,
) -> FastAPI:
    """An API answering with `served` (a `Deployment` swaps versions while it runs),
    logging every answered prediction, and every row refused as invalid, to `log`;
    `POST /v1/feedback` records realized outcomes in `labels` (the workspace's metadata
    store). `/metrics` also exports what `collectors` collect (monitoring's gauges, say).
    Under a policy of several arms, a candidate has `candidate_timeout_ms` to answer
    before the primary arm answers for it (see `routed.py`). With a `guard`, every route
    but health, metrics and the OpenAPI document asks for a bearer token whose role
    allows it: predict and explain `predict`, feedback `label`, override `override`,
    /v1/models `read`. `POST /v1/override` records a person's decision in `overrides`,
    for a row found in `history` (the model's whole log; default: `log`). A worker of
    several shares its counts through `metrics_share`, so its /metrics counts them all."""
    deployment = served if isinstance(served, Deployment) else Deployment(served)
    first = deployment.current.info
    metrics = ServingMetrics(deployment.current.classifier)
    deployment.on_swap.append(lambda event: metrics.swapped(event.ok))
    routed = RoutedAnswers(
        log, clock, timeout_ms=candidate_timeout_ms, on_fallback=metrics.fell_back
    )
    registry = CollectorRegistry()
    for collector in (metrics, RoutingCollector(lambda: deployment.routing), *collectors):
        registry.register(collector)
    if metrics_share is not None:  # one of several worker processes: /metrics counts all
        metrics_share.attach(metrics)
    app = _App(
        title=f"prodml · {first.name}",
        version=first.version,
        description=f"Predictions of model {first.name}; the request schema is the signature "
        "of the version being served.",
    )

    def reply(
        status: int, detail: list[dict[str, Any]], kind: str, headers: dict[str, str] | None = None
    ) -> Response:
        _, content = _failed(metrics, deployment.current.info, status, detail, kind)
        return Response(content, status_code=status, media_type="application/json", headers=headers)

    @app.exception_handler(ProdmlError)
    async def _prodml_error(_: Request, exc: ProdmlError) -> Response:
        return reply(exc.http_status, _error_detail(exc), type(exc).__name__, _headers(exc))

    def admit(scope: Any, permission: str) -> Principal | None:
        """Who sent the request in `scope`, if their token allows `permission` on the model
        served (see `Guard`), else raise; a token in the URL is refused, never used. None
        with auth off."""
        if guard is None:
            return None
        query = scope.get("query_string", b"").decode("latin-1")
        if query and any(p.partition("=")[0].lower() in QUERY_NAMES for p in query.split("&") if p):
            raise AuthError(
                "A token in the URL is refused (URLs are written to logs): send it as the "
                "header `Authorization: Bearer <token>`, and revoke the one you sent."
            )
        authorization = next(
            (v.decode("latin-1") for k, v in scope["headers"] if k == b"authorization"), None
        )
        model = deployment.current.info.name
        if known := guard.known(authorization, permission, model):
            return known  # the hot path: this header was admitted within a poll
        client = scope["client"][0] if scope.get("client") else "unknown"
        where = f"{scope['method']} {scope['path']}"
        try:
            return guard.check(authorization, client, permission, model, where=where)
        except AuthError as exc:  # say which role would do, as a 403 does
            roles = " or ".join(roles_with(permission))
            raise AuthError(f"{exc.message} {where} needs a token of role {roles}.") from None

    def permit(permission: str) -> list[Any]:
        """The dependency that admits a route's callers (none with auth off); the bearer
        scheme puts the token in the OpenAPI document."""
        if guard is None:
            return []

        async def admitted(
            request: Request, _: Any = Depends(HTTPBearer(auto_error=False))
        ) -> None:
            request.state.principal = admit(request.scope, permission)

        return [Depends(admitted)]

    @app.exception_handler(HTTPException)
    async def _http_error(_: Request, exc: HTTPException) -> Response:
        detail = [{"loc": [], "msg": str(exc.detail), "type": "http"}]
        return reply(exc.status_code, detail, "http")

    @app.exception_handler(Exception)
    async def _server_fault(_: Request, exc: Exception) -> Response:
        logger.exception("unexpected error while answering a request")
        return reply(500, [_INTERNAL], "internal")

    async def handle(body: bytes, request_id: str | None, explain: int) -> tuple[int, bytes]:
        """One prediction request, start to end (each row explained by its `explain` top
        reasons, if > 0): the status and the JSON body. Never raises: every failure is an
        answer in the API's error shape."""
        started = time.perf_counter()
        routing = deployment.routing  # read once: this request ends under this policy
        predictor = routing.primary  # whose schema is the API's
        info = predictor.info
        if routing.policy.stopped:  # the kill switch (`prodml deploy stop --fallback refuse`)
            detail = [{"loc": [], "msg": routing.policy.stopped, "type": "stopped"}]
            return _failed(metrics, info, 503, detail, "stopped")
        try:
            parsed = predictor.request_model.model_validate_json(body)
        except ValidationError as exc:
            errors = [_field_error(e, predictor.echoes) for e in exc.errors()]
            if any(e["type"] == "too_long" and e["loc"] == ["body", "rows"] for e in errors):
                detail = [_too_many(predictor.max_batch_rows)]
                return _failed(metrics, info, 413, detail, "too_many_rows")
            request_id = request_id or f"{_ID_PREFIX}{next(_ID_COUNTER):010x}"
            try:  # refused rows are logged too: monitoring counts them by reason
                log.append(
                    request_rejects(
                        body,
                        exc.errors(),
                        request_id=request_id,
                        info=info,
                        timestamp=clock.now(),
                        channel="http",
                        private=predictor.logged_sent,
                        route=routing.tags(routing.primary_arm.name),
                    )
                )
            except Exception:  # the caller is still told what was wrong with the request
                logger.exception("could not log the rows of refused request %s", request_id)
            return _failed(metrics, info, 422, errors, "validation")
        rows = rows_of(parsed)
        request_id = request_id or f"{_ID_PREFIX}{next(_ID_COUNTER):010x}"
        try:
            if routing.routed:
                document, predictions, info = await routed.answer(
                    routing, rows, request_id, channel="http", explain=explain, started=started
                )
            else:
                features = await predictor.features_async(rows)
                document, predictions = answer(
                    predictor,
                    rows,
                    request_id,
                    log=log,
                    clock=clock,
                    channel="http",
                    explain=explain,
                    started=started,
                    features=features,
                    route=routing.tags(routing.primary_arm.name),
                )
        except ProdmlError as exc:
            return _failed(metrics, info, exc.http_status, _error_detail(exc), type(exc).__name__)
        except Exception:
            logger.exception("unexpected error while answering a request")
            return _failed(metrics, info, 500, [_INTERNAL], "internal")
        metrics.succeeded(info, time.perf_counter() - started, [p.score for p in predictions])
        return 200, orjson.dumps(document)

    async def respond(request: Request, default_reasons: int) -> Response:
        explain = reasons_asked(request.scope.get("query_string", b""), default_reasons)
        body = await request.body()
        status, content = await handle(body, request.headers.get("x-request-id"), explain)
        return Response(content, status_code=status, media_type="application/json")

    # The hot path skips FastAPI's per-request machinery (the route above stays for the
    # OpenAPI document and answers the same way).
    app.fast_lane = _FastLane(
        "/v1/predict",
        handle,
        lambda status, detail, kind: _failed(
            metrics, deployment.current.info, status, detail, kind
        ),
        max_body=_MAX_BODY_PER_ROW * deployment.current.max_batch_rows,
        admit=None if guard is None else lambda scope: admit(scope, PREDICT),
    )

    described = {
        "response_model": None,
        "responses": {
            200: {"model": PredictResponse},
            413: {"model": ErrorBody, "description": "more rows than serving.max_batch_rows"},
            422: {"model": ErrorBody, "description": "a field is missing, extra or invalid"},
            503: {"model": ErrorBody, "description": "the model was stopped (kill switch)"},
        },
    }

    @app.post("/v1/predict", **described, dependencies=permit(PREDICT))  # type: ignore[arg-type]
    async def predict(request: Request) -> Response:
        """Predictions for one row or many, with conformal uncertainty; with
        `?explain=top:N`, each row's N reason codes too (see /v1/explain)."""
        return await respond(request, 0)

    @app.post("/v1/explain", **described, dependencies=permit(PREDICT))  # type: ignore[arg-type]
    async def explain(request: Request) -> Response:
        """Predictions with each row's top feature contributions (exact TreeSHAP, raw
        score space: log-odds for a classifier), signed, with the feature's name and value;
        five per row unless `?explain=top:N`."""
        return await respond(request, EXPLAIN_TOP)

    @app.post(
        "/v1/feedback",
        response_model=None,
        responses={
            200: {"model": FeedbackResponse},
            422: {"model": ErrorBody, "description": "a field is missing, extra or invalid"},
            503: {"model": ErrorBody, "description": "the server keeps no labels"},
        },
        dependencies=permit(LABEL),
    )
    async def feedback(request: Request) -> Response:
        """Record the truth of answered rows, by request id and row, whenever it is known;
        monitoring joins it to the prediction log. A second label for a row replaces the
        first."""
        predictor = deployment.current
        try:
            body = predictor.feedback_model.model_validate_json(await request.body())
        except ValidationError as exc:
            return reply(422, [_field_error(e) for e in exc.errors()], "validation")
        if labels is None:
            detail = [{"loc": [], "msg": _NO_LABELS, "type": "unavailable"}]
            return reply(503, detail, "unavailable")
        name = predictor.info.name
        received = [Label(f.request_id, float(f.label), f.row) for f in body.labels]  # type: ignore[attr-defined]
        accepted = await run_in_threadpool(
            labels.add_labels, name, received, received_at=clock.now()
        )
        return Response(
            orjson.dumps({"model": name, "accepted": accepted}), media_type="application/json"
        )

    override_body = override_model(deployment.current.classifier)
    searched = history or log

    @app.get(
        "/v1/explain/{request_id}",
        response_model=None,
        responses={
            200: {"model": ExplainedResponse},
            404: {"model": ErrorBody, "description": "no answered row under that request id"},
            409: {"model": ErrorBody, "description": "the version that answered is not served"},
            422: {"model": ErrorBody, "description": "explain is not top:N"},
        },
        dependencies=permit(PREDICT),
    )
    async def explain_logged(request: Request, request_id: str) -> Response:
        """The reason codes of a prediction already made, recomputed from what the
        prediction log kept of it (the request row and the features looked up for it) by
        the version that answered, while this server still serves it."""
        top = reasons_asked(request.scope.get("query_string", b""), EXPLAIN_TOP)
        records = await run_in_threadpool(searched.find, request_id)
        answered = [r for r in records if "rejected" not in r and not r.get("shadow")]
        if not answered:
            raise NotFoundError(
                f"No answered prediction is logged under request id {request_id!r}. Use the "
                "request_id a predict response gave."
            )
        version = answered[0]["version"]
        routing = deployment.routing
        served = (p for p in routing.predictors.values() if p.info.version == version)
        predictor = next(served, None)
        if predictor is None:
            raise StateError(
                f"Request {request_id!r} was answered by {answered[0]['model']} version "
                f"{version}, which this server no longer serves; a server of that version "
                "can explain it."
            )
        rows = [{**r["inputs"], **(r.get("features") or {})} for r in answered]
        reasons = await run_in_threadpool(lambda: predictor.explain(rows, top=top))
        document = {
            "request_id": request_id,
            "model": {"name": predictor.info.name, "version": version},
            "explanations": [
                {"row": r["row"], **e} for r, e in zip(answered, reasons, strict=True)
            ],
        }
        return Response(orjson.dumps(document), media_type="application/json")

    @app.post(
        "/v1/override",
        response_model=None,
        responses={
            200: {"model": OverrideResponse},
            404: {"model": ErrorBody, "description": "no answered row under that request id"},
            422: {"model": ErrorBody, "description": "a field is missing, extra or invalid"},
            503: {"model": ErrorBody, "description": "the server keeps no overrides"},
        },
        dependencies=permit(OVERRIDE),
    )
    async def override(request: Request) -> Response:
        """Replace the model's decision for one answered row with a person's, saying why
        (human oversight). The override, not the model's answer, is the decision that
        monitoring counts; it is recorded in the audit log with who made it."""
        try:
            body: Any = override_body.model_validate_json(await request.body())
        except ValidationError as exc:
            return reply(422, [_field_error(e) for e in exc.errors()], "validation")
        if overrides is None:
            detail = [{"loc": [], "msg": _NO_OVERRIDES, "type": "unavailable"}]
            return reply(503, detail, "unavailable")
        principal = getattr(request.state, "principal", None)
        actor = principal.name if principal is not None else (body.by or "anonymous")
        name = deployment.current.info.name
        logged = await run_in_threadpool(searched.find, body.request_id)
        recorded = await run_in_threadpool(
            lambda: overrides.record(
                name,
                body.request_id,
                body.row,
                float(body.decision),
                actor=actor,
                reason=body.reason,
                logged=logged,
            )
        )
        answer = {
            "model": name,
            "request_id": recorded.request_id,
            "row": recorded.row,
            "decision": recorded.decision,
            "model_decision": recorded.model_decision,
            "by": recorded.actor,
        }
        return Response(orjson.dumps(answer), media_type="application/json")

    @app.get("/v1/models", dependencies=permit(READ))
    def models() -> dict[str, Any]:
        routing = deployment.routing
        predictor = routing.primary
        info = predictor.info
        return {
            "deployment": routing.deployment,
            "policy": routing.policy.model_dump(mode="json"),
            "name": info.name,
            "version": info.version,
            "aliases": list(info.aliases),
            "flavor": predictor.model.flavor,
            "engine": predictor.engine,
            "task": predictor.model.task,
            "threshold": predictor.threshold if predictor.classifier else None,
            "coverage": predictor.coverage,
            "features": predictor.row_schema.model_json_schema(),
            "swaps": [{**asdict(e), "at": e.at.isoformat()} for e in deployment.history],
        }

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz")
    def readyz() -> dict[str, str]:
        info = deployment.current.info
        return {"status": "ready", "model": info.name, "version": info.version}

    @app.get("/metrics", response_class=PlainTextResponse)
    def prometheus() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    def openapi() -> dict[str, Any]:
        predictor = deployment.current
        key = predictor.info.version
        if key not in schemas:
            schemas.clear()
            schemas[key] = _openapi(app, predictor)
        return schemas[key]

    schemas: dict[str, dict[str, Any]] = {}
    app.openapi = openapi  # type: ignore[method-assign]
    return app


def _openapi(app: FastAPI, predictor: Predictor) -> dict[str, Any]:
    """FastAPI's document, with the request body of the version being served."""
    document = get_openapi(
        title=app.title,
        version=predictor.info.version,
        description=app.description,
        routes=app.routes,
    )
    body = predictor.request_model.model_json_schema(ref_template=_REF)
    components = document.setdefault("components", {}).setdefault("schemas", {})
    components.update(body.pop("$defs", {}))
    components["PredictRequest"] = body
    feedback = predictor.feedback_model.model_json_schema(ref_template=_REF)
    components.update(feedback.pop("$defs", {}))
    components["FeedbackRequest"] = feedback
    overriding = override_model(predictor.classifier).model_json_schema(ref_template=_REF)
    components.update(overriding.pop("$defs", {}))
    components["OverrideRequest"] = overriding
    bodies = {"/v1/predict": "PredictRequest", "/v1/explain": "PredictRequest"}
    others = {"/v1/feedback": "FeedbackRequest", "/v1/override": "OverrideRequest"}
    for path, model in {**bodies, **others}.items():
        document["paths"][path]["post"]["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": {"$ref": _REF.format(model=model)}}},
        }
    for path in (*bodies, "/v1/explain/{request_id}"):
        for operation in document["paths"][path].values():
            operation.setdefault("parameters", []).append(_EXPLAIN_PARAMETER)
    return document


_EXPLAIN_PARAMETER = {
    "name": "explain",
    "in": "query",
    "required": False,
    "description": "top:N: each row's N reason codes (exact TreeSHAP, signed, raw-score units)",
    "schema": {"type": "string", "pattern": "^top:([1-9][0-9]?|100)$", "example": "top:3"},
}


class _FastLane:
    """POST `path` answered straight from the server's bytes, without FastAPI's routing,
    dependency solving and middleware: a third of the time of a one-row prediction. A body
    over `max_body` bytes is refused with 413 before it is read whole."""

    def __init__(
        self,
        path: str,
        handle: Callable[[bytes, str | None, int], Awaitable[tuple[int, bytes]]],
        refuse: Callable[[int, list[dict[str, Any]], str], tuple[int, bytes]],
        *,
        max_body: int,
        admit: Callable[[Any], object] | None = None,
    ) -> None:
        self.path = path
        self.handle = handle
        self.refuse = refuse
        self.max_body = max_body
        self.admit = admit

    def takes(self, scope: Any) -> bool:
        return scope["type"] == "http" and scope["method"] == "POST" and scope["path"] == self.path

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        try:
            if self.admit is not None:
                self.admit(scope)  # before the body is read: a stranger's bytes are not
            query = scope.get("query_string", b"")
            explain = reasons_asked(query, 0) if query else 0
        except ProdmlError as refused:
            status, content = self.refuse(
                refused.http_status, _error_detail(refused), type(refused).__name__
            )
            await _send(send, status, content, _headers(refused))
            return
        chunks, size = [], 0
        while True:
            message = await receive()
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body:
                status, content = self.refuse(413, [_too_large(self.max_body)], "too_large")
                break
            chunks.append(chunk)
            if not message.get("more_body"):
                request_id = next(
                    (v.decode("latin-1") for k, v in scope["headers"] if k == b"x-request-id"),
                    None,
                )
                status, content = await self.handle(b"".join(chunks), request_id, explain)
                break
        await _send(send, status, content)


async def _send(
    send: Any, status: int, content: bytes, headers: dict[str, str] | None = None
) -> None:
    """A whole JSON response, straight to the ASGI server."""
    extra = [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(content)).encode()),
                *extra,
            ],
        }
    )
    await send({"type": "http.response.body", "body": content})


def _headers(exc: ProdmlError) -> dict[str, str] | None:
    """The headers HTTP asks of a refusal: how to authenticate, when to retry."""
    if isinstance(exc, AuthError):
        return {"WWW-Authenticate": 'Bearer realm="prodml"'}
    if isinstance(exc, RateLimitedError):
        return {"Retry-After": str(max(1, round(exc.retry_after)))}
    return None


class _App(FastAPI):
    """FastAPI with the fast lane in front of its whole middleware stack."""

    fast_lane: _FastLane | None = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if self.fast_lane is not None and self.fast_lane.takes(scope):
            await self.fast_lane(scope, receive, send)
        else:
            await super().__call__(scope, receive, send)


def _failed(
    metrics: ServingMetrics,
    info: ModelVersionInfo,
    status: int,
    detail: list[dict[str, Any]],
    kind: str,
) -> tuple[int, bytes]:
    """A refusal or failure, counted by kind, in the API's error shape."""
    metrics.failed(info, status, kind)
    return status, orjson.dumps({"detail": detail})


def _error_detail(exc: ProdmlError) -> list[dict[str, Any]]:
    """An error's field-level entries (input errors), or one entry with its message."""
    errors = exc.errors if isinstance(exc, InputError) else []
    return [_safe(e) for e in errors] or [
        {"loc": [], "msg": exc.message, "type": type(exc).__name__}
    ]


def _field_error(error: Any, echoes: Callable[[str], bool] | None = None) -> dict[str, Any]:
    """A pydantic error on the request body in FastAPI's entry shape (its location under
    "body"), with only a scalar input echoed back, and for a prediction row only that of
    a field `echoes` allows and that does not look personal (see `govern.privacy`)."""
    out = {"loc": ["body", *error["loc"]], "msg": error["msg"], "type": error["type"]}
    value = error.get("input")
    loc = error["loc"]
    in_row = len(loc) >= 3 and loc[0] == "rows"
    if echoes is not None and in_row and (not echoes(str(loc[2])) or looks_personal(value)):
        pass  # the field and why it failed are said; a personal value is not repeated
    elif isinstance(value, float) and not math.isfinite(value):
        out["input"] = str(value)  # JSON has no NaN: echoing it raw would turn a 422 into a 500
    elif isinstance(value, int) and not -(2**63) <= value < 2**64:
        out["input"] = str(value)  # nor does the encoder take integers past 64 bits
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


def _too_large(limit: int) -> dict[str, Any]:
    return {
        "loc": ["body"],
        "msg": f"the request body is over {limit:,} bytes. Send fewer rows per request, or "
        "score files with `prodml score`.",
        "type": "too_large",
    }


def _too_many(limit: int) -> dict[str, Any]:
    return {
        "loc": ["body", "rows"],
        "msg": f"more than {limit} rows in one request (serving.max_batch_rows). "
        "Split the batch, or score files with `prodml score`.",
        "type": "too_many_rows",
    }
