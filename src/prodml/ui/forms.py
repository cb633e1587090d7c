"""The console's forms: signing in and out, and the actions a role allows, each checked
(CSRF token, role, a reason given), done through the workspace's own services, and
answered by a redirect to the page it came from, which then shows its effect."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar
from urllib.parse import parse_qs

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from prodml.errors import ConfigError, ProdmlError
from prodml.govern.roles import APPROVE, OVERRIDE
from prodml.ui import views
from prodml.ui.actions import (
    DEPLOYMENT_ACTIONS,
    grant_exception,
    make_champion,
    perform,
    reason_given,
)
from prodml.ui.render import Renderer
from prodml.ui.session import TOKEN_COOKIE, remember

T = TypeVar("T")

MAX_FORM_BYTES = 16_384  # a reason is a paragraph, not a file


def form_routes(r: Renderer) -> list[Route]:
    """The routes that take a form for `r`'s workspace."""
    ws = r.ws

    def posted(
        handler: Callable[[Request, dict[str, str]], Response],
    ) -> Callable[[Request], object]:
        async def endpoint(request: Request) -> Response:
            body = await request.body()
            try:
                form = _fields(body, request.headers.get("content-type", ""))
                return await run_in_threadpool(handler, request, form)
            except ProdmlError as exc:
                return r.refused(request, exc)

        return endpoint

    def sign_in(request: Request, form: dict[str, str]) -> Response:
        visitor = r.sessions.anonymous(request)
        r.sessions.require(visitor, form.get("csrf", ""), "read", None)
        r.sessions.sign_in(request, form.get("token", ""))
        response = r.redirect(str(request.url_for("models")))
        return remember(response, request, session=visitor.new_session, token=form["token"].strip())

    def sign_out(request: Request, form: dict[str, str]) -> Response:
        r.sessions.require(r.sessions.anonymous(request), form.get("csrf", ""), "read", None)
        response = r.redirect(str(request.url_for("sign_in")))
        response.delete_cookie(TOKEN_COOKIE, path=request.scope.get("root_path") or "/")
        return response

    def on_deployment(request: Request, form: dict[str, str]) -> Response:
        name, action = request.path_params["name"], request.path_params["action"]
        found = views.deployment(ws, name)
        if found is None or action not in DEPLOYMENT_ACTIONS:
            return r.missing(request, f"deployment {name!r} or action {action!r}")
        visitor = r.visitor(request)
        r.sessions.require(
            visitor, form.get("csrf", ""), DEPLOYMENT_ACTIONS[action].permission, found.policy.model
        )
        perform(
            ws,
            found,
            action,
            actor=visitor.name,
            reason=reason_given(form.get("reason", "")),
            seen=_revision(form),
        )
        return r.redirect(str(request.url_for("deployment", name=name)))

    def on_version(request: Request, form: dict[str, str]) -> Response:
        name, version = request.path_params["name"], request.path_params["version"]
        action = request.path_params["action"]
        do = {"champion": make_champion, "allow": grant_exception}.get(action)
        if do is None:
            return r.missing(request, f"action {action!r}")
        visitor = r.visitor(request)
        ref = f"{name}/{version}"
        r.sessions.require(visitor, form.get("csrf", ""), APPROVE, name)
        do(ws, ref, visitor.name, reason_given(form.get("reason", "")))
        return r.redirect(str(request.url_for("model", name=name)))

    def on_request(request: Request, form: dict[str, str]) -> Response:
        name, request_id = request.path_params["name"], request.path_params["request_id"]
        if views.model(ws, name) is None:
            return r.missing(request, f"model {name!r}")
        visitor = r.visitor(request)
        r.sessions.require(visitor, form.get("csrf", ""), OVERRIDE, name)
        ws.overrides.record(
            name,
            request_id,
            _number(form, "row", int),
            _number(form, "decision", float),
            actor=visitor.name,
            reason=reason_given(form.get("reason", "")),
            logged=ws.prediction_log(name).find(request_id),
        )
        page = request.url_for("requests", name=name).include_query_params(id=request_id)
        return r.redirect(str(page))

    def sign_in_page(request: Request) -> Response:
        return r.sign_in_page(request)

    async def sign_in_form(request: Request) -> Response:
        return await run_in_threadpool(sign_in_page, request)

    return [
        Route("/signin", sign_in_form, name="sign_in"),
        Route("/signin", posted(sign_in), methods=["POST"]),
        Route("/signout", posted(sign_out), methods=["POST"], name="sign_out"),
        Route(
            "/deployments/{name}/{action}",
            posted(on_deployment),
            methods=["POST"],
            name="deployment_action",
        ),
        Route(
            "/models/{name}/requests/{request_id}/override",
            posted(on_request),
            methods=["POST"],
            name="override",
        ),
        Route(
            "/models/{name}/{version}/{action}",
            posted(on_version),
            methods=["POST"],
            name="version_action",
        ),
    ]


def _fields(body: bytes, content_type: str) -> dict[str, str]:
    """A urlencoded form's fields (the first of each), the only kind its pages send.
    Parsed here rather than by python-multipart: three short fields need no dependency."""
    if not content_type.startswith("application/x-www-form-urlencoded"):
        raise ConfigError(
            f"Send the form as application/x-www-form-urlencoded, not {content_type!r}."
        )
    if len(body) > MAX_FORM_BYTES:
        raise ConfigError(f"The form is {len(body):,} bytes; at most {MAX_FORM_BYTES:,} are read.")
    parsed = parse_qs(body.decode("utf-8", errors="replace"), keep_blank_values=True)
    return {key: values[0] for key, values in parsed.items()}


def _revision(form: dict[str, str]) -> int:
    try:
        return int(form.get("revision", ""))
    except ValueError:
        raise ConfigError("The form names no revision: reload the page and act again.") from None


def _number(form: dict[str, str], field: str, kind: Callable[[str], T]) -> T:
    try:
        return kind(form.get(field, ""))
    except ValueError:
        got = form.get(field, "")
        raise ConfigError(f"The form's {field} must be a number; got {got!r}.") from None
