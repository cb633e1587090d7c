"""What every console response shares: the visitor read off the request, the page drawn
from its template under a strict Content-Security-Policy, a refusal that says why, and
a chart sent as its own SVG document."""

from __future__ import annotations

from pathlib import Path

from matplotlib.figure import Figure as Canvas
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.templating import Jinja2Templates

from prodml.errors import AuthError, ProdmlError
from prodml.monitor.report import chart_svg
from prodml.ui.live import LiveMetrics
from prodml.ui.session import Sessions, Visitor, remember
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
# A chart is shown as an image, which runs no script; matplotlib styles its marks inline.
SVG_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src data:",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-cache",
}

NOTHING_YET = (
    '<svg xmlns="http://www.w3.org/2000/svg" width="600" height="40" viewBox="0 0 600 40">'
    '<text x="0" y="25" font-family="sans-serif" font-size="15" fill="#5f6b7a">'
    "Nothing to chart yet: monitoring has not found this over any window.</text></svg>"
)


class Renderer:
    """Draws the console's responses for workspace `ws`."""

    def __init__(self, ws: Workspace) -> None:
        self.ws = ws
        self.sessions = Sessions(ws.guard if ws.settings.governance.auth else None)
        self.templates = Jinja2Templates(directory=HERE / "templates")
        self.live = LiveMetrics()

    def visitor(self, request: Request) -> Visitor:
        return self.sessions.visitor(request)

    def page(
        self,
        request: Request,
        template: str,
        status: int = 200,
        *,
        visitor: Visitor | None = None,
        **context: object,
    ) -> Response:
        """`template` drawn for the visitor (read off `request` when not given)."""
        visitor = visitor or self.visitor(request)
        response = self.templates.TemplateResponse(
            request,
            template,
            {"visitor": visitor, "project": self.ws.project_dir, **context},
            status,
        )
        response.headers.update(SECURITY_HEADERS)
        return remember(response, request, session=visitor.new_session, token=None)

    def missing(self, request: Request, what: str) -> Response:
        return self.page(request, "missing.html", 404, what=what)

    def refused(self, request: Request, error: ProdmlError) -> Response:
        """A page saying why an action or a sign-in was refused, with the error's status;
        a visitor who is not signed in is sent to sign in."""
        if isinstance(error, AuthError) and self.sessions.guard is not None:
            if request.method == "GET":
                return self.redirect(str(request.url_for("sign_in")))
            return self.sign_in_page(request, error.message, status=401)
        return self.page(
            request, "refused.html", error.http_status, error=error.message, back=_back(request)
        )

    def sign_in_page(self, request: Request, message: str = "", status: int = 200) -> Response:
        visitor = self.sessions.anonymous(request)
        return self.page(request, "signin.html", status, visitor=visitor, message=message)

    def svg(self, fig: Canvas | None) -> Response:
        """`fig` as an SVG document; a line saying so when there is nothing to draw yet."""
        svg = chart_svg(fig) if fig is not None else NOTHING_YET
        return Response(svg, media_type="image/svg+xml", headers=SVG_HEADERS)

    def redirect(self, url: str) -> Response:
        response = RedirectResponse(url, status_code=303)
        response.headers.update(SECURITY_HEADERS)
        return response


def _back(request: Request) -> str:
    """The page a refused form was on: a version's model page, a deployment's page."""
    if request.method != "POST":
        return request.url.path
    params = request.path_params
    if "version" in params:
        return str(request.url_for("model", name=params["name"]))
    if "name" in params:
        return str(request.url_for("deployment", name=params["name"]))
    return str(request.url_for("models"))
