"""The `prodml` command line.

Every command works on the project in the current folder (or `-C DIR`): its
`prodml.yaml`, its `PRODML_*` variables and its state folder (`.prodml/`).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Annotated, Literal

import typer

from prodml import __version__
from prodml.cli._auth import authorize, model_of
from prodml.cli._common import (
    Coverage,
    Follow,
    ProjectDir,
    ServedModel,
    close_workspaces,
    err,
    loopback,
    open_workspace,
    out,
    served_model,
)
from prodml.cli.ct import agent, ct_app
from prodml.cli.data import data_app
from prodml.cli.deploy import deploy_app
from prodml.cli.features import features_app
from prodml.cli.govern import audit_app, auth_app, privacy_app
from prodml.cli.log import log_app
from prodml.cli.models import models_app
from prodml.cli.monitor import monitor_app
from prodml.cli.train import train
from prodml.cli.ui import ui
from prodml.errors import ConfigError, ProdmlError
from prodml.govern.roles import OPERATE, PREDICT
from prodml.settings import DEFAULT_YAML, SETTINGS_FILE, load_settings

app = typer.Typer(
    name="prodml",
    help=(
        "prodml carries a tabular model from the notebook to production and keeps it healthy.\n\n"
        "Start with [bold]prodml demo[/bold]: it trains, registers, serves and monitors a model "
        "on the real NYC 2013 flights in a few minutes, all in [cyan].prodml/[/cyan]."
    ),
    epilog=(
        "Your own table, in three commands, then live:\n\n"
        "  prodml data infer orders.csv --name orders     draft a contract; review it\n\n"
        "  prodml data ingest orders.csv -c orders.contract.yaml\n\n"
        "  prodml train --data orders --label returned    gated and registered\n\n"
        "  prodml serve orders@champion                   HTTP API, every answer logged\n\n"
        "  prodml monitor run orders                      drift and performance\n\n"
        "Also: prodml init (a commented prodml.yaml), prodml status (what is here)."
    ),
    rich_markup_mode="rich",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=True,
)


def _version(value: bool) -> None:
    if value:
        out.print(f"prodml {__version__}")
        raise typer.Exit()


app.add_typer(data_app, name="data")
app.add_typer(features_app, name="features")
app.add_typer(models_app, name="models")
app.add_typer(log_app, name="log")
app.add_typer(monitor_app, name="monitor")
app.add_typer(deploy_app, name="deploy")
app.add_typer(auth_app, name="auth")
app.add_typer(audit_app, name="audit")
app.add_typer(privacy_app, name="privacy")
app.add_typer(ct_app, name="ct")
app.command()(agent)
app.command()(train)
app.command()(ui)


@app.callback()
def _root(
    ctx: typer.Context,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print version.")
    ] = False,
) -> None:
    """prodml: from notebook to production, and healthy there."""
    ctx.call_on_close(close_workspaces)


@app.command()
def init(
    project: ProjectDir = Path("."),
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
) -> None:
    """Write a commented default prodml.yaml.  [dim]e.g. prodml init[/dim]"""
    path = project / SETTINGS_FILE
    if path.exists() and not force:
        raise ConfigError(f"{path} already exists; pass --force to overwrite it.")
    project.mkdir(parents=True, exist_ok=True)
    path.write_text(DEFAULT_YAML, encoding="utf-8")
    settings = load_settings(project)  # proves the file we wrote is valid
    out.print(f"Wrote [cyan]{path}[/cyan]; state will live in [cyan]{settings.state_dir}[/cyan].")


@app.command()
def demo(
    project: ProjectDir = Path("."),
    requests: Annotated[
        int, typer.Option(min=1, help="July flights to send to the HTTP API, one per request.")
    ] = 1000,
    replay: Annotated[
        bool,
        typer.Option(
            "--replay",
            help="After training, replay July–December 2013 with continuous training "
            "(about 10 min): the trained model left alone, the loop, and a monthly oracle, "
            "compared month by month.",
        ),
    ] = False,
) -> None:
    """Train, register, serve and monitor a model on the real NYC 2013 flights.

    [dim]e.g. prodml demo --requests 500; prodml demo --replay[/dim]
    """
    from prodml.demo.render import render_replay, render_report
    from prodml.demo.replay import ReplayPlan
    from prodml.demo.run import run_demo

    started = time.perf_counter()
    ws = open_workspace(project)
    try:
        report = run_demo(ws, err, requests=requests, replay=ReplayPlan() if replay else None)
    finally:
        ws.close()
    if report.replay is not None:
        render_replay(out, report.replay, report.paths)
    else:
        render_report(out, report, ws, time.perf_counter() - started)


@app.command()
def serve(
    model: ServedModel = None,
    project: ProjectDir = Path("."),
    host: Annotated[str | None, typer.Option(help="Default: serving.host.")] = None,
    port: Annotated[int | None, typer.Option(help="Default: serving.port.")] = None,
    workers: Annotated[
        int | None, typer.Option(min=1, help="Server processes. Default: serving.workers.")
    ] = None,
    coverage: Coverage = None,
    follow: Follow = None,
    deployment: Annotated[
        str | None,
        typer.Option(
            help="Serve this deployment's traffic policy (canary, A/B, shadow) instead of "
            "one model; see `prodml deploy`. Default: serving.deployment.",
            show_default=False,
        ),
    ] = None,
    insecure_bind: Annotated[
        bool,
        typer.Option(
            "--insecure-bind",
            help="Listen beyond this machine although governance.auth is off (anyone who "
            "reaches the port may then predict and post labels).",
        ),
    ] = False,
) -> None:
    """Serve a registered model over HTTP.  [dim]e.g. prodml serve churn@champion[/dim]

    Endpoints: POST /v1/predict and /v1/explain, GET /v1/models, /healthz, /readyz,
    /metrics; OpenAPI at /docs. Served by alias, the server checks the registry every
    serving.poll_seconds and swaps to a new version after a smoke prediction, without
    dropping a request. With --deployment NAME it follows that deployment's policy
    instead, routing each caller to an arm, and announces its URL (serving.advertise) so
    the console's deployment page finds it. With --workers N, N processes share the port
    (and /metrics counts them all). With governance.auth on, every route but health,
    metrics and /docs needs a token.
    """
    import os
    import shutil
    import signal
    import socket

    import uvicorn

    from prodml.cli.serve_app import METRICS_SHARE, build, leader, settle
    from prodml.serve.presence import Presence, advertised_url

    ws = open_workspace(project)
    settings = ws.settings.serving
    host = host if host is not None else settings.host
    port = port if port is not None else settings.port
    workers = workers or settings.workers
    level = ws.settings.log_level.lower()
    deployment = deployment or (None if model else settings.deployment)
    model = None if deployment else served_model(ws, model)
    served = f"deployment {deployment}" if deployment else model
    if deployment:
        change = ws.metadata.deployment(deployment)
        authorize(ws, OPERATE, model=change.policy["model"] if change else None)
    else:
        authorize(ws, OPERATE, model=model_of(str(model)))
    if not ws.settings.governance.auth and not insecure_bind and not loopback(host):
        raise ConfigError(
            f"--host {host}: governance.auth is off, so anyone reaching this address could "
            "predict and post labels. Turn it on (governance.auth: true, then `prodml auth "
            "token create`), or pass --insecure-bind if a proxy in front checks callers."
        )
    if workers > 1:
        # Options travel as settings, so each worker process reads the same ones.
        chosen = {
            "model": model,
            "deployment": deployment,
            "coverage": coverage,
            "follow": follow,
            "advertise": advertised_url(host, port, settings.advertise),
        }
        for key, value in chosen.items():
            if value is not None:
                text = str(value).lower() if isinstance(value, bool) else str(value)
                os.environ[f"PRODML_SERVING__{key.upper()}"] = text
        # Counts from an earlier server on this port must not add to this one's.
        shared = ws.project_dir / ".prodml" / "metrics" / str(port)
        shutil.rmtree(shared, ignore_errors=True)
        os.environ[METRICS_SHARE] = str(shared)
        os.chdir(ws.project_dir)
        err.print(f"Serving {served} with {workers} worker processes.")
        uvicorn.run(
            "prodml.cli.serve_app:worker_app",
            factory=True,
            workers=workers,
            host=host,
            port=port,
            log_level=level,
        )
        return
    # A log folder of its own, as each worker has: replicas sharing the project folder
    # (one machine, or a shared volume) never write the same file.
    replica = f"replica-{socket.gethostname()}-{os.getpid()}"
    app_, served_now = build(
        ws, model, coverage=coverage, follow=follow, deployment_name=deployment, worker=replica
    )
    info = served_now.current.info
    if deployment:
        err.print(
            f"Serving deployment [bold]{deployment}[/bold]: {served_now.routing.policy.describe()}."
        )
    else:
        err.print(
            f"Serving [bold]{info.name}[/bold] version {info.version} "
            f"({served_now.current.model.flavor})"
            + (f", following {model}." if served_now.follows else ".")
        )
    served_now.follow()
    judge = leader(ws, deployment)
    if judge is not None:
        judge.start()
        err.print(
            f"It judges the rollout every {judge.interval:g} s while no other replica does "
            "(rollouts.in_server)."
        )
    presence = None
    if deployment:  # the console finds the deployment's servers by their presence
        url = advertised_url(host, port, settings.advertise)
        presence = Presence(ws.metadata, deployment, url).start()
    settle()
    # uvicorn raises again the SIGTERM it shut down for (how Kubernetes stops a pod): as
    # SystemExit, so this server withdraws and gives its leases up below, at once.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        uvicorn.run(app_, host=host, port=port, log_level=level)
    finally:
        served_now.stop()
        if judge is not None:
            judge.stop()
        if presence is not None:
            presence.stop()


@app.command()
def stream(
    model: ServedModel = None,
    project: ProjectDir = Path("."),
    url: Annotated[
        str | None,
        typer.Option(help="nats://… (JetStream) or redis://… (Streams). Default: streaming.url."),
    ] = None,
    idle_exit: Annotated[
        float | None,
        typer.Option(help="Stop after this many seconds without a message (default: never)."),
    ] = None,
    follow: Follow = None,
) -> None:
    """Answer prediction requests from a message stream, durably and exactly once per id.

    Reads <prefix>.<model>.requests ({"request_id": ..., "rows": [...]}, the HTTP body plus
    an id), publishes answers to .predictions and poison messages to .dead with the reason.
    A request is acknowledged only after its answer is logged and published: a crash
    redelivers it, and its request id keeps the answer from being stored twice.

    [dim]e.g. prodml stream churn@champion --url nats://127.0.0.1:4222[/dim]
    """
    import asyncio

    from prodml.serve.stream import StreamWorker, open_backend

    ws = open_workspace(project)
    streaming, serving = ws.settings.streaming, ws.settings.serving
    authorize(ws, OPERATE, model=model_of(served_model(ws, model)))
    deployment = ws.deployment(
        served_model(ws, model), follow=serving.follow if follow is None else follow
    )
    info = deployment.current.info
    backend = open_backend(
        url or streaming.url, streaming.prefix, info.name, max_deliveries=streaming.max_deliveries
    )

    async def run() -> None:
        await backend.open()
        err.print(
            f"Answering [cyan]{backend.subjects.requests}[/cyan] with {info.ref} → "
            f"[cyan]{backend.subjects.predictions}[/cyan] (dead letters: "
            f"{backend.subjects.dead})."
        )
        with ws.prediction_log(info.name) as log:
            worker = StreamWorker(backend, deployment, log, ws.clock, batch=streaming.batch)
            try:
                stats = await worker.run(idle_seconds=idle_exit)
            finally:
                await backend.close()
        out.print(
            f"Answered {stats.answered:,} requests; {stats.duplicates:,} duplicates skipped, "
            f"{stats.retried:,} retries, {stats.dead_lettered:,} dead-lettered."
        )

    deployment.follow()
    try:
        asyncio.run(run())
    except KeyboardInterrupt:
        err.print("Stopped.")
    finally:
        deployment.stop()


@app.command()
def score(
    model: Annotated[str, typer.Argument(help="NAME@ALIAS, NAME/VERSION or NAME (latest).")],
    input_path: Annotated[
        Path, typer.Option("--input", "-i", help="Parquet or CSV file to score.")
    ],
    output_path: Annotated[
        Path, typer.Option("--output", "-o", help="Parquet file to write (replaced atomically).")
    ],
    rejects: Annotated[
        Path | None,
        typer.Option(
            help="Parquet file for rows that fail the checks, with the reasons. "
            "Default: <output>.rejects.parquet."
        ),
    ] = None,
    keep: Annotated[
        list[str] | None,
        typer.Option("--keep", "-k", help="Input column to copy to the output (repeatable)."),
    ] = None,
    chunk_rows: Annotated[int, typer.Option(min=1, help="Rows scored at a time.")] = 100_000,
    coverage: Coverage = None,
    log: Annotated[
        bool, typer.Option(help="Record every prediction in the model's prediction log.")
    ] = True,
    engine: Annotated[
        Literal["local", "ray"],
        typer.Option(
            help="local: this process. ray: Ray actors score the chunks (pip install "
            "'prodml\\[ray]'); the outputs are the same.",
        ),
    ] = "local",
    ray_address: Annotated[
        str | None,
        typer.Option(
            help="Ray cluster to run on ('auto' for the one this machine belongs to). "
            "Default: a local cluster for this job only."
        ),
    ] = None,
    project: ProjectDir = Path("."),
) -> None:
    """Batch-score a Parquet or CSV file of any size with a registered model.

    Rows are checked like API requests; the ones that fail go to the rejects file with
    their row number and reasons, the rest are scored with the label and conformal set
    (or interval), in chunks of bounded memory.

    [dim]e.g. prodml score churn@champion -i in.parquet -o out.parquet -k customer_id[/dim]
    [dim]     prodml score churn@champion -i big.parquet -o out.parquet --engine ray[/dim]
    """
    import pyarrow.parquet as pq
    from rich.progress import Progress

    from prodml.serve import Predictor, score_file

    ws = open_workspace(project)
    authorize(ws, PREDICT, model=model_of(model))
    info, loaded = ws.registry.load(model)
    predictor = Predictor(loaded, info, coverage=coverage or ws.settings.serving.coverage)
    total = (
        pq.ParquetFile(input_path).metadata.num_rows
        if input_path.suffix == ".parquet" and input_path.exists()
        else None
    )
    prediction_log = ws.prediction_log(info.name) if log else None
    try:
        with Progress(console=err) as progress:
            task = progress.add_task(f"Scoring with {info.name} v{info.version}", total=total)
            result = score_file(
                predictor,
                input_path,
                output_path,
                rejects=rejects,
                keep=keep or (),
                chunk_rows=chunk_rows,
                log=prediction_log,
                now=ws.clock.now(),
                on_chunk=lambda n: progress.advance(task, n),
                engine=engine,
                ray_address=ray_address,
            )
    finally:
        if prediction_log is not None:
            prediction_log.close()
    out.print(f"Scored {result.scored:,} rows into [cyan]{output_path}[/cyan].")
    if result.rejected:
        err.print(
            f"[yellow]{result.rejected:,} rows rejected[/yellow]; reasons in "
            f"[cyan]{result.rejects}[/cyan]."
        )


@app.command()
def status(
    project: ProjectDir = Path("."),
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Show what the workspace holds and where everything lives.  [dim]e.g. prodml status[/dim]"""
    from prodml.status import collect_status, render_status

    ws = open_workspace(project)
    try:
        state = collect_status(ws)
    finally:
        ws.close()
    if as_json:
        out.print_json(json.dumps(state, default=str))
    else:
        render_status(out, state)


def main() -> None:
    """Entry point: run the app and turn prodml errors into one clear line and exit 1."""
    try:
        app()
    except ProdmlError as exc:
        err.print(f"[bold red]error:[/bold red] {exc.message}", highlight=False, soft_wrap=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
