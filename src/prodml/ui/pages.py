"""The console's pages, one route each, every one at a stable URL: models, a model (its
versions, card, monitoring and continuous training), deployments, the audit log, data."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from zoneinfo import ZoneInfo

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from prodml.errors import InputError, ProdmlError
from prodml.monitor.report import drift_heatmap, fairness_chart, performance_chart
from prodml.registry.card import build_card, card_fragment
from prodml.ui import charts, live, views
from prodml.ui.actions import DEPLOYMENT_ACTIONS
from prodml.ui.render import Renderer
from prodml.ui.session import Visitor

MONITORING_CHARTS = ("performance", "drift", "fairness")
AUDIT_FILTERS = ("actor", "action", "target")


def page_routes(r: Renderer) -> list[Route]:
    """The routes that draw pages (and their charts) for `r`'s workspace."""
    ws = r.ws

    def guarded(handler: Callable[..., Response]) -> Callable[[Request], Awaitable[Response]]:
        """A page that asks who the visitor is first (a sign-in page when it cannot tell),
        drawn off the event loop: a server mounting the console keeps answering meanwhile."""

        def draw(request: Request) -> Response:
            try:
                return handler(request, r.visitor(request), **request.path_params)
            except ProdmlError as exc:
                return r.refused(request, exc)

        async def endpoint(request: Request) -> Response:
            return await run_in_threadpool(draw, request)

        return endpoint

    def home(request: Request, visitor: Visitor) -> Response:
        return r.redirect(str(request.url_for("models")))

    def models(request: Request, visitor: Visitor) -> Response:
        return r.page(request, "models.html", visitor=visitor, models=views.models(ws))

    def model(request: Request, visitor: Visitor, name: str) -> Response:
        found = views.model(ws, name)
        if found is None:
            return r.missing(request, f"model {name!r}")
        return r.page(request, "model.html", visitor=visitor, model=found)

    def card(request: Request, visitor: Visitor, name: str, version: str) -> Response:
        found = views.model(ws, name)
        if found is None or version not in {v.version for v in found.versions}:
            return r.missing(request, f"version {name}/{version}")
        body = card_fragment(build_card(ws.registry.resolve(f"{name}/{version}"), ws.tracking_uri))
        return r.page(
            request, "card.html", visitor=visitor, model=found, version=version, card=body
        )

    def monitoring(request: Request, visitor: Visitor, name: str) -> Response:
        if views.model(ws, name) is None:
            return r.missing(request, f"model {name!r}")
        alerts = ws.metadata.list_alerts(model_name=name)
        alerts.sort(key=lambda a: (a.status != "firing", -a.last_window_end.timestamp()))
        return r.page(
            request,
            "monitoring.html",
            visitor=visitor,
            name=name,
            alerts=alerts,
            charts=MONITORING_CHARTS,
        )

    def monitoring_chart(request: Request, visitor: Visitor, name: str, chart: str) -> Response:
        if chart not in MONITORING_CHARTS:
            return r.missing(request, f"chart {chart!r}")
        if chart == "drift":  # the largest share of the findings: read those alone
            zone = ZoneInfo(ws.settings.monitoring.timezone)
            drift = ws.metadata.list_findings(monitor="drift", model_name=name)
            return r.svg(drift_heatmap(drift, zone))
        findings = ws.metadata.list_findings(model_name=name)
        if chart == "performance":
            return r.svg(performance_chart(findings))
        newest = max((f.model_version for f in findings), key=int, default=None)
        reference = ws.reference_or_none(name, newest) if newest else None
        return r.svg(fairness_chart(findings, reference))

    def training(request: Request, visitor: Visitor, name: str) -> Response:
        if views.model(ws, name) is None:
            return r.missing(request, f"model {name!r}")
        return r.page(
            request,
            "training.html",
            visitor=visitor,
            name=name,
            decisions=views.decisions(ws, name),
        )

    def deployments(request: Request, visitor: Visitor) -> Response:
        return r.page(
            request, "deployments.html", visitor=visitor, deployments=views.deployments(ws)
        )

    def deployment(request: Request, visitor: Visitor, name: str) -> Response:
        found = views.deployment(ws, name)
        if found is None:
            return r.missing(request, f"deployment {name!r}")
        offered = {
            key: action
            for key, action in DEPLOYMENT_ACTIONS.items()
            if action.offered(found) and visitor.may(action.permission, found.policy.model)
        }
        return r.page(
            request,
            "deployment.html",
            visitor=visitor,
            deployment=found,
            actions=offered,
            live=r.live.look(found.policy.model, name, live.servers(ws, name)),
        )

    def traffic_chart(request: Request, visitor: Visitor, name: str) -> Response:
        found = views.deployment(ws, name)
        if found is None:
            return r.missing(request, f"deployment {name!r}")
        return r.svg(charts.traffic_shares(views.shares(found.changes), ws.clock.now()))

    def checks_chart(request: Request, visitor: Visitor, name: str) -> Response:
        found = views.deployment(ws, name)
        if found is None:
            return r.missing(request, f"deployment {name!r}")
        return r.svg(charts.rollout_checks(found.changes))

    def audit(request: Request, visitor: Visitor) -> Response:
        actor, action, target = (request.query_params.get(k, "") for k in AUDIT_FILTERS)
        before = request.query_params.get("before", "")
        if before and not before.isdigit():
            wrong = f"before={before!r} is not an event number (the # column)"
            return r.refused(request, InputError(f"{wrong}; leave it out for the newest."))
        found = views.audit(
            ws, actor=actor, action=action, target=target, before=int(before) if before else None
        )
        filters = {"actor": actor, "action": action, "target": target}
        return r.page(request, "audit.html", visitor=visitor, audit=found, filters=filters)

    def requests(request: Request, visitor: Visitor, name: str) -> Response:
        if views.model(ws, name) is None:
            return r.missing(request, f"model {name!r}")
        wanted = request.query_params.get("id", "").strip()
        found = views.request(ws, name, wanted) if wanted else None
        return r.page(
            request, "requests.html", visitor=visitor, name=name, wanted=wanted, found=found
        )

    def data(request: Request, visitor: Visitor) -> Response:
        return r.page(request, "data.html", visitor=visitor, snapshots=views.snapshots(ws))

    return [
        Route("/", guarded(home)),
        Route("/models", guarded(models), name="models"),
        Route("/models/{name}", guarded(model), name="model"),
        Route("/models/{name}/{version}/card", guarded(card), name="card"),
        Route("/models/{name}/monitoring", guarded(monitoring), name="monitoring"),
        Route(
            "/models/{name}/monitoring/{chart}.svg",
            guarded(monitoring_chart),
            name="monitoring_chart",
        ),
        Route("/models/{name}/training", guarded(training), name="training"),
        Route("/models/{name}/requests", guarded(requests), name="requests"),
        Route("/deployments", guarded(deployments), name="deployments"),
        Route("/deployments/{name}", guarded(deployment), name="deployment"),
        Route("/deployments/{name}/traffic.svg", guarded(traffic_chart), name="traffic_chart"),
        Route("/deployments/{name}/checks.svg", guarded(checks_chart), name="checks_chart"),
        Route("/audit", guarded(audit), name="audit"),
        Route("/data", guarded(data), name="data"),
    ]
