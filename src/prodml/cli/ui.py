"""`prodml ui`: the console, served on this machine."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from prodml.cli._common import ProjectDir, err, loopback, open_workspace
from prodml.errors import ConfigError


def ui(
    project: ProjectDir = Path("."),
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[
        int | None, typer.Option(help="Port to listen on (default: ui.port, 8765).")
    ] = None,
    insecure_bind: Annotated[
        bool,
        typer.Option(
            "--insecure-bind",
            help="Listen beyond this machine although governance.auth is off (anyone who "
            "reaches the port may then read every model's state).",
        ),
    ] = False,
) -> None:
    """Serve the console: models (versions, lineage, cards, monitoring, continuous
    training), deployments (live figures, every decision, and the actions your role
    allows), the audit log and the data, in a browser. With governance.auth on, sign in
    with your token; off, it is in local mode. `ui.in_server: true` also serves it under
    /ui of `prodml serve`.

    [dim]e.g. prodml ui, then open http://127.0.0.1:8765[/dim]
    """
    import uvicorn

    from prodml.ui import create_ui

    ws = open_workspace(project)
    if not ws.settings.governance.auth and not insecure_bind and not loopback(host):
        raise ConfigError(
            f"--host {host}: governance.auth is off, so anyone reaching this address could "
            "read every model's state. Keep the default 127.0.0.1, turn auth on, or pass "
            "--insecure-bind if a proxy in front checks callers."
        )
    port = port or ws.settings.ui.port
    err.print(f"The console: [cyan]http://{host}:{port}[/cyan] (Ctrl-C stops it)")
    uvicorn.run(create_ui(ws), host=host, port=port, log_level=ws.settings.log_level.lower())
