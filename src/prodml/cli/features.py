"""`prodml features ...`: apply definitions, list them, show one."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from prodml.cli._common import ProjectDir, open_workspace, out
from prodml.errors import NotFoundError

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
    views, services = load_definitions(file)
    result = apply_definitions(
        ws.metadata,
        views,
        services,
        now=ws.clock.now(),
        models_using=ws.registry.versions_using,
        force=force,
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
