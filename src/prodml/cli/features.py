"""`prodml features ...`: apply definitions, list them, show one."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from prodml.cli._auth import authorize
from prodml.cli._common import ProjectDir, open_workspace, out
from prodml.errors import NotFoundError
from prodml.govern.roles import INGEST

if TYPE_CHECKING:
    from prodml.features.definitions import FeatureService
    from prodml.workspace import Workspace

features_app = typer.Typer(
    help="Feature store: register entities, feature views and services defined in Python.",
    no_args_is_help=True,
)


@features_app.command()
def apply(
    file: Annotated[Path, typer.Argument(help="The Python file with the definitions.")] = Path(
        "features.py"
    ),
    force: Annotated[
        bool, typer.Option("--force", help="Change views even if registered models use them.")
    ] = False,
    project: ProjectDir = Path("."),
) -> None:
    """Register the feature views and services defined in a Python file.

    [dim]e.g. prodml features apply features.py[/dim]
    """
    from prodml.features.registry import apply as apply_definitions
    from prodml.features.registry import load_definitions

    ws = open_workspace(project)
    authorize(ws, INGEST)
    views, services = load_definitions(file)
    result = apply_definitions(
        ws.metadata,
        views,
        services,
        now=ws.clock.now(),
        file=file,
        models_using=ws.registry.versions_using,
        force=force,
        audit=ws.audit,
    )
    for label, names in (
        ("added", result.added),
        ("changed", result.changed),
        ("unchanged", result.unchanged),
    ):
        if names:
            out.print(f"{label}: {', '.join(names)}")


@features_app.command("list")
def list_(
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
    project: ProjectDir = Path("."),
) -> None:
    """List the registered feature views and services.  [dim]e.g. prodml features list[/dim]"""
    ws = open_workspace(project)
    views, services = (
        ws.metadata.feature_definitions("view"),
        ws.metadata.feature_definitions("service"),
    )
    if as_json:
        body = {
            "views": {n: v for n, (v, _) in views.items()},
            "services": {n: v for n, (v, _) in services.items()},
        }
        out.print_json(json.dumps(body))
        return
    table = Table(title="Feature definitions", title_justify="left")
    for column in ("kind", "name", "version", "what"):
        table.add_column(column)
    for name, (version, body) in sorted(views.items()):
        table.add_row("view", name, version, ", ".join(body["features"]))
    for name, (version, body) in sorted(services.items()):
        table.add_row("service", name, version, ", ".join(body["views"]))
    out.print(table if views or services else "Nothing registered yet: `prodml features apply`.")


@features_app.command()
def show(name: str, project: ProjectDir = Path(".")) -> None:
    """Show one view or service as registered.  [dim]e.g. prodml features show weather[/dim]"""
    ws = open_workspace(project)
    for kind in ("view", "service"):
        found = ws.metadata.feature_definitions(kind).get(name)
        if found:
            out.print_json(
                json.dumps({"kind": kind, "name": name, "version": found[0], **found[1]})
            )
            return
    raise NotFoundError(f"No feature view or service named {name!r}. See `prodml features list`.")


_TIME_FORMATS = ["%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M", "%Y-%m-%d"]


def _moment(what: str) -> Any:
    """A time option: ISO 8601, e.g. 2013-07-01 or 2013-07-01T06:00."""
    return typer.Option(
        help=f"{what} (UTC unless it has an offset).", formats=_TIME_FORMATS, metavar="TIME"
    )


def _utc(moment: datetime | None) -> datetime | None:
    return None if moment is None else moment.replace(tzinfo=moment.tzinfo or UTC)


@features_app.command()
def materialize(
    service: Annotated[str, typer.Argument(help="The registered feature service to load.")],
    start: Annotated[datetime | None, _moment("Only rows at or after this time")] = None,
    end: Annotated[datetime | None, _moment("Only rows before this time; default: now")] = None,
    project: ProjectDir = Path("."),
) -> None:
    """Load the newest value per entity of every view of a service into the online store.

    [dim]e.g. prodml features materialize flights --end 2013-07-01[/dim]
    """
    from prodml.features.materialize import materialize as load

    ws = open_workspace(project)
    authorize(ws, INGEST)
    until = _utc(end) or ws.clock.now()
    for view in _service(ws, service).views:
        with _progress(view.name) as on_rows:
            keys = load(view, ws.online_store, start=_utc(start), end=until, on_rows=on_rows)
        out.print(f"{view.name}: {keys:,} entities in {ws.settings.online_store_url}")


@features_app.command("materialize-incremental")
def materialize_incremental(
    service: Annotated[str, typer.Argument(help="The registered feature service to load.")],
    end: Annotated[datetime | None, _moment("Up to this time; default: now")] = None,
    project: ProjectDir = Path("."),
) -> None:
    """Load what arrived since the last materialization of each view, up to END.

    A view never materialized into this store (or changed since) is loaded from the start.
    [dim]e.g. prodml features materialize-incremental flights[/dim]
    """
    from prodml.features.materialize import materialize_incremental as load

    ws = open_workspace(project)
    authorize(ws, INGEST)
    until = _utc(end) or ws.clock.now()
    for view in _service(ws, service).views:
        with _progress(view.name) as on_rows:
            since, keys = load(view, ws.online_store, end=until, on_rows=on_rows)
        begun = "the start" if since is None else f"{since:%Y-%m-%d %H:%M}"
        out.print(f"{view.name}: {keys:,} entities from {begun} to {until:%Y-%m-%d %H:%M} UTC")


def _service(ws: Workspace, name: str) -> FeatureService:
    from prodml.features.registry import load_service

    return load_service(ws.metadata, name, root=ws.project_dir)


@contextmanager
def _progress(view: str) -> Iterator[Callable[[int], None]]:
    from rich.progress import Progress

    from prodml.cli._common import err

    with Progress(console=err, transient=True) as progress:
        task = progress.add_task(f"Materializing {view}", total=None)
        yield functools.partial(progress.advance, task)


@features_app.command("check-parity")
def check_parity(
    service: Annotated[str, typer.Argument(help="The registered feature service to check.")],
    sample: Annotated[int, typer.Option(min=1, help="Entities sampled per view.")] = 1000,
    at: Annotated[datetime | None, _moment("The moment to compare at; default: now")] = None,
    project: ProjectDir = Path("."),
) -> None:
    """Compare what serving would see with what training would see for the same moment.

    [dim]e.g. prodml features check-parity flights --at 2013-07-31T23:00[/dim]
    """
    from prodml.errors import DataValidationError
    from prodml.features.parity import check_parity as compare

    ws = open_workspace(project)
    report = compare(
        ws.online_store,
        _service(ws, service),
        now=_utc(at) or ws.clock.now(),
        sample=sample,
    )
    table = Table(
        title=f"Parity of {service} at {report.at:%Y-%m-%d %H:%M} UTC "
        f"({report.checked:,} entities)",
        title_justify="left",
    )
    table.add_column("feature")
    table.add_column("mismatches")
    for name, count in report.mismatches.items():
        table.add_row(name, f"[red]{count}[/red]" if count else "0")
    out.print(table)
    for example in report.examples:
        out.print(f"  {example}")
    if not report.ok:
        raise DataValidationError(
            f"Training and serving disagree for service {service!r}. If the online store is "
            "behind, run `prodml features materialize`; otherwise the two paths compute "
            "features differently."
        )
