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
ServedModel = Annotated[
    str | None,
    typer.Argument(
        help="NAME@ALIAS (followed), NAME/VERSION (pinned) or NAME. Default: serving.model.",
        show_default=False,
    ),
]
Coverage = Annotated[
    float | None,
    typer.Option(min=0.5, max=0.99, help="Conformal coverage. Default: serving.coverage."),
]
Follow = Annotated[
    bool | None,
    typer.Option(
        help="Hot-swap to the version NAME@ALIAS points at whenever the alias moves. "
        "Default: serving.follow."
    ),
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


def served_model(ws: Workspace, given: str | None) -> str:
    """The model a serving command answers with: the one named, else serving.model."""
    found = given or ws.settings.serving.model
    if not found:
        from prodml.errors import ConfigError

        raise ConfigError(
            "Which model? Name it (e.g. `prodml serve churn@champion`; `prodml models list` "
            "shows what is registered) or set serving.model in prodml.yaml."
        )
    return found
