"""The console's web app: Starlette routes rendering Jinja2 templates, every response with a
strict Content-Security-Policy (no script at all, styles from this server only)."""

from __future__ import annotations

from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from prodml.registry.card import build_card, card_fragment
from prodml.ui import views
from prodml.workspace import Workspace

HERE = Path(__file__).parent
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


def create_ui(ws: Workspace) -> Starlette:
    """The console over workspace `ws` (`prodml ui` serves it)."""
    templates = Jinja2Templates(directory=HERE / "templates")
    local = not ws.settings.governance.auth

    def page(request: Request, template: str, status: int = 200, **context: object) -> Response:
        response = templates.TemplateResponse(
            request, template, {"local": local, "project": ws.project_dir, **context}, status
        )
        response.headers.update(SECURITY_HEADERS)
        return response

    async def home(request: Request) -> Response:
        return RedirectResponse(request.url_for("models"), status_code=303)

    async def models(request: Request) -> Response:
        return page(request, "models.html", models=views.models(ws))

    async def model(request: Request) -> Response:
        name = request.path_params["name"]
        found = views.model(ws, name)
        if found is None:
            return page(request, "missing.html", 404, what=f"model {name!r}")
        return page(request, "model.html", model=found)

    async def card(request: Request) -> Response:
        name, version = request.path_params["name"], request.path_params["version"]
        found = views.model(ws, name)
        if found is None or version not in {v.version for v in found.versions}:
            return page(request, "missing.html", 404, what=f"version {name}/{version}")
        info = ws.registry.resolve(f"{name}/{version}")
        body = card_fragment(build_card(info, ws.tracking_uri))
        return page(request, "card.html", model=found, version=version, card=body)

    return Starlette(
        routes=[
            Route("/", home),
            Route("/models", models, name="models"),
            Route("/models/{name}", model, name="model"),
            Route("/models/{name}/{version}/card", card, name="card"),
            Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
        ]
    )
