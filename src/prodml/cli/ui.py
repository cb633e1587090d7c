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
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8765,
    insecure_bind: Annotated[
        bool,
        typer.Option(
            "--insecure-bind",
            help="Listen beyond this machine although governance.auth is off (anyone who "
            "reaches the port may then read every model's state).",
        ),
    ] = False,
) -> None:
    """Serve the console: models, their versions, lineage and cards, in a browser.

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
    err.print(f"The console: [cyan]http://{host}:{port}[/cyan] (Ctrl-C stops it)")
    uvicorn.run(create_ui(ws), host=host, port=port, log_level=ws.settings.log_level.lower())
