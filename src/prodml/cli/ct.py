"""`prodml ct ...` and `prodml agent`: continuous training. A tick judges each model's
rollout, decides whether to retrain it under its policy (automate in prodml.yaml), and
if so retrains, gates and rolls the result out; every decision is kept and shown."""

from __future__ import annotations

import contextlib
import json
import signal
import threading
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from prodml.automate import Controller, Tick, evaluate, policy_version, run_agent
from prodml.automate.controller import CONTROLLER
from prodml.cli._auth import authorize
from prodml.cli._common import Actor, AsJson, ProjectDir, open_workspace, out, seconds
from prodml.govern.roles import APPROVE, TRAIN
from prodml.store import Decision
from prodml.workspace import Workspace

ct_app = typer.Typer(
    help="Continuous training: retrain on policy, gate, canary, promote or roll back.",
    no_args_is_help=True,
)

Model = Annotated[str, typer.Argument(help="The registered model, e.g. flights-delay.")]
Models = Annotated[
    list[str] | None,
    typer.Argument(
        help="Models to act on. Default: every model with a champion.", show_default=False
    ),
]


@ct_app.command()
def tick(
    models: Models = None,
    actor: Actor = None,
    as_json: AsJson = False,
    project: ProjectDir = Path("."),
) -> None:
    """One pass over each model, then exit (what a CronJob runs).

    Judge rollouts in progress, resume a retrain a killed controller left, retrain where
    the policy says, and start the retrained model's rollout.

    [dim]e.g. prodml ct tick flights-delay[/dim]
    """
    ws = open_workspace(project)
    controller = Controller(ws, actor=_controller(ws, actor))
    ticks = []
    for model in models or _champions(ws):
        with out.status(f"{model}: starting") as shown:

            def step(phase: str, model: str = model) -> None:
                shown.update(f"{model}: {phase}")

            ticks.append(controller.tick(model, on_step=step))
    if as_json:
        out.print_json(json.dumps([_tick_dict(t) for t in ticks], default=str))
        return
    for done in ticks:
        _show_tick(done)


@ct_app.command()
def retrain(
    model: Model,
    reason: Annotated[str, typer.Option(help="Why, recorded with the request.")],
    actor: Actor = None,
    project: ProjectDir = Path("."),
) -> None:
    """Ask for a retrain, which the next tick takes.

    A request passes the cool-down and the budget, not a rollout in progress nor too few
    new labels.

    [dim]e.g. prodml ct retrain flights-delay --reason "new fleet data"[/dim]
    """
    ws = open_workspace(project)
    by = authorize(ws, TRAIN, model=model, actor=actor)
    if not reason.strip():
        raise typer.BadParameter("Say why (--reason); it is recorded.", param_hint="--reason")
    Controller(ws, actor=by).request(model, reason)
    out.print(f"Requested: the next `prodml ct tick {model}` retrains it ({reason}).")


@ct_app.command()
def status(model: Model, as_json: AsJson = False, project: ProjectDir = Path(".")) -> None:
    """The model's policy and state, what the next tick would do, its latest decisions.

    [dim]e.g. prodml ct status flights-delay[/dim]
    """
    ws = open_workspace(project)
    controller = Controller(ws)
    policy = controller.policy(model)
    state = controller.state(model)
    evaluation = evaluate(policy, state)
    latest = ws.metadata.list_decisions(model, limit=10)
    if as_json:
        found = {
            "model": model,
            "policy": {"version": policy_version(policy), **policy.model_dump(mode="json")},
            "state": asdict(state),
            "next": {**asdict(evaluation), "retrain": evaluation.retrain},
            "decisions": [asdict(d) for d in latest],
        }
        out.print_json(json.dumps(found, default=str))
        return
    champion = ws.registry.resolve(f"{model}@champion")
    out.print(f"[bold]{model}[/bold]: champion {champion.ref}, policy {policy_version(policy)}")
    out.print(
        f"  new labelled rows {state.new_labels:,} (trained on {state.training_rows:,}); "
        f"last retrain {state.last_trained or 'never'}; "
        f"{state.retrains_in_period} in the last {policy.guards.period_days:g} days"
    )
    if state.firing:
        out.print(f"  firing: {', '.join(state.firing)}")
    if state.rollout:
        out.print(f"  rollout in progress: deployment {state.rollout}")
    action = "retrain" if evaluation.retrain else "no retrain"
    out.print(f"  next tick: {action} ({evaluation.sentence()})")
    _show(model, latest, title=f"{model}: latest decisions")


@ct_app.command()
def history(
    model: Model,
    limit: Annotated[int | None, typer.Option(min=1, help="Only the newest N.")] = None,
    as_json: AsJson = False,
    project: ProjectDir = Path("."),
) -> None:
    """Every decision about the model: when, what, why, and the version it concerned.

    [dim]e.g. prodml ct history flights-delay --json[/dim]
    """
    ws = open_workspace(project)
    ws.registry.resolve(f"{model}@champion")  # a clear error for an unknown model
    decisions = ws.metadata.list_decisions(model, limit=limit)
    if as_json:
        out.print_json(json.dumps([asdict(d) for d in decisions], default=str))
        return
    _show(model, decisions, title=f"{model}: continuous-training decisions")


def agent(
    models: Models = None,
    every: Annotated[
        str | None,
        typer.Option(help="Time between ticks, e.g. 10m, 1h. Default: automate.every_seconds."),
    ] = None,
    actor: Actor = None,
    project: ProjectDir = Path("."),
) -> None:
    """Run continuous training: `prodml ct tick` on a schedule, until stopped.

    Ctrl-C or SIGTERM stops it between ticks; a model's failed pass is logged and the
    next model is tried.

    [dim]e.g. prodml agent --every 15m[/dim]
    """
    ws = open_workspace(project)
    by = _controller(ws, actor)
    interval = seconds(every, "--every") if every else ws.settings.automate.every_seconds
    names = models or _champions(ws)
    for name in names:  # a misspelt model is an error now, not a log line every tick
        ws.registry.resolve(f"{name}@champion")
    stopped = threading.Event()

    def wait(timeout: float) -> None:
        stopped.wait(timeout)

    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    out.print(f"Continuous training of {', '.join(names) or 'no model yet'}, every {interval:g} s.")
    with contextlib.suppress(KeyboardInterrupt):
        run_agent(
            ws,
            names,
            every=interval,
            stop=stopped.is_set,
            wait=wait,
            on_tick=_show_tick,
            actor=by,
        )
    out.print("Stopped.")


def _controller(ws: Workspace, actor: str | None) -> str:
    """Who the controller acts as: its token's holder with governance.auth on (whose
    role must approve: the `controller` role does), else `actor` or "controller"."""
    if ws.settings.governance.auth:
        return authorize(ws, APPROVE, actor=actor)
    return actor or CONTROLLER


def _champions(ws: Workspace) -> list[str]:
    return sorted(ref.split("@")[0] for ref in ws.registry.aliases() if ref.endswith("@champion"))


def _show_tick(done: Tick) -> None:
    if done.locked:
        out.print(f"{done.model}: another controller is acting on it; left to that one.")
        return
    _show(done.model, done.decisions, title=f"{done.model}: this tick")


def _show(model: str, decisions: list[Decision], *, title: str) -> None:
    if not decisions:
        out.print(f"{model}: no decision yet. Run `prodml ct tick {model}`.")
        return
    table = Table(title=title, title_justify="left")
    for column in ("at (UTC)", "decision", "version", "why"):
        table.add_column(column, overflow="fold")
    for d in decisions:
        table.add_row(f"{d.at:%Y-%m-%d %H:%M}", d.kind, d.version or "", d.reason)
    out.print(table)


def _tick_dict(done: Tick) -> dict[str, Any]:
    return {
        "model": done.model,
        "locked": done.locked,
        "decisions": [asdict(d) for d in done.decisions],
    }
