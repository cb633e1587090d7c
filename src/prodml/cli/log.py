"""`prodml log`: the prediction log of a deployment, and shipping it to JetStream."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from prodml.cli._auth import authorize, model_of
from prodml.cli._common import ProjectDir, err, open_workspace, out, served_model
from prodml.govern.roles import OPERATE

log_app = typer.Typer(
    help="The prediction log: every answer a model gave, by HTTP, stream or batch.",
    no_args_is_help=True,
)


@log_app.command()
def ship(
    name: Annotated[
        str | None,
        typer.Argument(
            help="The model whose log to ship. Default: the one serving.model names.",
            show_default=False,
        ),
    ] = None,
    url: Annotated[
        str | None, typer.Option(help="NATS server with JetStream. Default: streaming.url.")
    ] = None,
    follow: Annotated[
        bool, typer.Option(help="Keep shipping new records as they are logged (a sidecar).")
    ] = False,
    interval: Annotated[
        float, typer.Option(min=0.05, help="With --follow: seconds between looks at the log.")
    ] = 1.0,
    project: ProjectDir = Path("."),
) -> None:
    """Publish the log's records not shipped yet to <prefix>.<NAME>.log on NATS JetStream.

    Resumes where the last run stopped (a cursor per writer, saved after JetStream's
    acknowledgement); each message's Nats-Msg-Id is writer/segment/index, so a record
    shipped twice after a crash is stored once.

    [dim]e.g. prodml log ship churn --follow[/dim]
    """
    import asyncio

    from prodml.serve.logship import JetStreamSink, LogShipper
    from prodml.serve.stream import Subjects

    ws = open_workspace(project)
    streaming = ws.settings.streaming
    name = name or model_of(served_model(ws, None))
    authorize(ws, OPERATE, model=name)
    subject = Subjects.for_model(streaming.prefix, name).log
    log = ws.prediction_log(name)
    if not log.folder.exists():
        err.print(f"[red]No prediction log for {name!r} at {log.folder}.[/red]")
        raise typer.Exit(1)
    sink = JetStreamSink(url or streaming.url, subject)

    async def run() -> int:
        await sink.open()
        shipper = LogShipper(log, sink)
        try:
            if not follow:
                return await shipper.ship()
            err.print(f"Shipping {log.folder} to [cyan]{subject}[/cyan]; Ctrl-C stops.")
            return await shipper.follow(interval, asyncio.Event())
        finally:
            await sink.close()

    try:
        shipped = asyncio.run(run())
    except KeyboardInterrupt:
        err.print("Stopped.")
        return
    out.print(f"Shipped {shipped:,} records to [cyan]{subject}[/cyan].")
