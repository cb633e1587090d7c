"""The console's web app: its pages and forms over one workspace, and its stylesheet."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles

from prodml.ui.forms import form_routes
from prodml.ui.pages import page_routes
from prodml.ui.render import HERE, Renderer
from prodml.workspace import Workspace


def create_ui(ws: Workspace) -> Starlette:
    """The console over workspace `ws` (`prodml ui` serves it; `prodml serve` mounts it
    under /ui when serving.ui is on)."""
    renderer = Renderer(ws)
    return Starlette(
        routes=[
            *page_routes(renderer),
            *form_routes(renderer),
            Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
        ]
    )
