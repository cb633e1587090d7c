"""`prodml monitor`: judge a model's traffic, window by window, against its reference."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from prodml.cli._common import ProjectDir, err, open_workspace, out

monitor_app = typer.Typer(
    help="Monitoring: drift of each window of traffic against the training reference.",
    no_args_is_help=True,
)


@monitor_app.command()
def run(
    name: Annotated[str, typer.Argument(help="The model whose prediction log to judge.")],
    freq: Annotated[
        str,
        typer.Option(help="Window length, a pandas offset: D (days), W-MON (weeks), MS (months)."),
    ] = "D",
    project: ProjectDir = Path("."),
) -> None:
    """Judge every complete window of NAME's traffic not judged yet, and record findings.

    Each window is compared with the reference of the version that answered it (built at
    registration): per feature and for the prediction, Wasserstein or Jensen–Shannon
    distance (KS or chi-square on small references), and the share of missing values.
    Run it on a schedule: it picks up where the last run stopped.

    [dim]e.g. prodml monitor run flights-delay --freq D[/dim]
    """
    from prodml.monitor.run import monitor_traffic

    ws = open_workspace(project)
    log = ws.prediction_log(name)
    if not log.folder.exists():
        err.print(f"[red]No prediction log for {name!r} at {log.folder}.[/red]")
        raise typer.Exit(1)
    judged = monitor_traffic(
        name,
        log.read(),
        lambda version: ws.reference(name, version),
        ws.metadata,
        now=ws.clock.now(),
        freq=freq,
    )
    if not judged:
        out.print(f"No complete window of {name} left to judge.")
        return
    table = Table(title=f"{name}: drift per window", title_justify="left")
    for column in ("window", "version", "rows", "drifted"):
        table.add_column(column)
    for window in judged:
        drifted = [d.feature for d in window.drift if d.drifted]
        table.add_row(
            f"{window.start:%Y-%m-%d %H:%M} – {window.end:%Y-%m-%d %H:%M}",
            window.version,
            f"{window.rows:,}",
            ", ".join(drifted) or "none",
        )
    out.print(table)
