"""What every command module shares: the consoles, the project option, opening a workspace."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.logging import RichHandler

from prodml.workspace import Workspace

out = Console()
err = Console(stderr=True)

ProjectDir = Annotated[
    Path,
    typer.Option("--dir", "-C", help="Project folder (holds prodml.yaml).", show_default=False),
]


def open_workspace(project: Path) -> Workspace:
    ws = Workspace.open(project)
    # log_level is prodml's own verbosity; libraries speak only when something is wrong.
    logging.basicConfig(
        level=logging.WARNING,
        format="%(message)s",
        handlers=[RichHandler(console=err, show_path=False)],
    )
    logging.getLogger("prodml").setLevel(ws.settings.log_level)
    return ws
