"""What every command module shares: the consoles, the project option, opening a workspace."""

from __future__ import annotations

import getpass
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


AsJson = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]
Actor = Annotated[
    str | None,
    typer.Option(help="Who is making the change. Default: this machine's user name."),
]


def who(actor: str | None) -> str:
    """The actor a change is recorded under: the one given, else the user's name."""
    return actor or getpass.getuser()


def seconds(text: str, option: str) -> float:
    """ "90", "90s", "10m", "1h" or "7d" in seconds."""
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    number, unit = (text[:-1], text[-1]) if text[-1:] in units else (text, "s")
    try:
        value = float(number) * units[unit]
    except ValueError:
        raise typer.BadParameter(
            f"{text!r}: give a time such as 60s, 10m, 1h or 90d.", param_hint=option
        ) from None
    if value < 0:
        raise typer.BadParameter(f"{text!r}: a time cannot be negative.", param_hint=option)
    return value


_opened: list[Workspace] = []


def open_workspace(project: Path) -> Workspace:
    """The project's workspace, closed (its database connections too) when the command
    ends (see `close_workspaces`)."""
    ws = Workspace.open(project)
    _opened.append(ws)
    # log_level is prodml's own verbosity; libraries speak only when something is wrong.
    logging.basicConfig(
        level=logging.WARNING,
        format="%(message)s",
        handlers=[RichHandler(console=err, show_path=False)],
    )
    logging.getLogger("prodml").setLevel(ws.settings.log_level)
    return ws


def close_workspaces() -> None:
    """Close what the command opened: in a process that runs many commands (a test, a
    notebook), connections must not wait for the garbage collector."""
    while _opened:
        _opened.pop().close()


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


def loopback(host: str) -> bool:
    """Whether `host` is reached from this machine alone."""
    import ipaddress

    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a name other than localhost: it may resolve anywhere
        return False
