"""`prodml deploy ...`: deployments and their traffic policies: create one, start a canary,
an A/B test or a shadow, promote or roll back, and see the state and every change."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Literal

import typer
from rich.table import Table

from prodml.cli._auth import authorize, model_of
from prodml.cli._common import (
    Actor,
    AsJson,
    ProjectDir,
    err,
    open_workspace,
    out,
    seconds,
)
from prodml.govern.roles import APPROVE, EXPERIMENT, OPERATE
from prodml.rollout.analysis import Decision
from prodml.store import PolicyChange
from prodml.workspace import Workspace

deploy_app = typer.Typer(
    help="Deployments: a named endpoint and its traffic policy (single, canary, A/B, shadow).",
    no_args_is_help=True,
)

Name = Annotated[str, typer.Argument(help="The deployment, e.g. churn-api.")]
Candidate = Annotated[
    str,
    typer.Option("--candidate", help="The version to try: 4, @challenger or NAME/4."),
]
Reason = Annotated[str, typer.Option(help="Why, recorded with the change.")]
Fallback = Literal["previous", "refuse"]


@deploy_app.command()
def create(
    name: Name,
    model: Annotated[str, typer.Option(help="What it serves: NAME@ALIAS or NAME/VERSION.")],
    key: Annotated[
        str | None,
        typer.Option(
            help="The request field that sticks a caller to one arm (default: none, "
            "each request routed by its id)."
        ),
    ] = None,
    reason: Reason = "",
    actor: Actor = None,
    as_json: AsJson = False,
    project: ProjectDir = Path("."),
) -> None:
    """Create a deployment serving one version.

    [dim]e.g. prodml deploy create churn-api --model churn@champion --key customer_id[/dim]
    """
    ws = open_workspace(project)
    by = authorize(ws, APPROVE, model=model_of(model), actor=actor)
    _done(ws.rollouts.create(name, model, actor=by, reason=reason, key=key), as_json)


@deploy_app.command()
def canary(
    name: Name,
    candidate: Candidate,
    steps: Annotated[
        str,
        typer.Option(help="The candidate's share at each step, in percent, comma-separated."),
    ] = "5,25,50,100",
    interval: Annotated[
        str | None,
        typer.Option(
            help="The least time a step lasts, e.g. 60s, 10m, 1h. "
            "Default: rollouts.min_step_seconds.",
            show_default=False,
        ),
    ] = None,
    reason: Reason = "",
    actor: Actor = None,
    as_json: AsJson = False,
    project: ProjectDir = Path("."),
) -> None:
    """Expose a candidate version to a small share of the callers first; the analysis
    (`prodml deploy watch`) moves it up step by step, promotes or rolls it back.

    [dim]e.g. prodml deploy canary churn-api --candidate 4 --steps 5,25,50,100 --interval 10m[/dim]
    """
    try:
        shares = tuple(float(s) / 100 for s in steps.split(","))
    except ValueError:
        raise typer.BadParameter(
            f"{steps!r}: give percentages, comma-separated, e.g. 5,25,50,100.",
            param_hint="--steps",
        ) from None
    step_seconds = None if interval is None else seconds(interval, "--interval")
    ws = open_workspace(project)
    by = _authorize(ws, name, EXPERIMENT, actor)
    _done(
        ws.rollouts.canary(
            name,
            candidate,
            actor=by,
            reason=reason,
            steps=shares,
            step_seconds=step_seconds,
        ),
        as_json,
    )


@deploy_app.command()
def shadow(
    name: Name,
    candidate: Candidate,
    reason: Reason = "",
    actor: Actor = None,
    as_json: AsJson = False,
    project: ProjectDir = Path("."),
) -> None:
    """Score a copy of the traffic with a candidate; only the stable version answers.

    [dim]e.g. prodml deploy shadow churn-api --candidate @challenger[/dim]
    """
    ws = open_workspace(project)
    by = _authorize(ws, name, EXPERIMENT, actor)
    _done(ws.rollouts.shadow(name, candidate, actor=by, reason=reason), as_json)


@deploy_app.command()
def ab(
    name: Name,
    arms: Annotated[
        str, typer.Option(help="VERSION=WEIGHT pairs, comma-separated; weights add up to 1.")
    ],
    metric: Annotated[
        str,
        typer.Option(
            help="What the arms are judged on once labels arrive: roc_auc, log_loss, brier "
            "(classifiers), mae or mse (regressors)."
        ),
    ] = "roc_auc",
    reason: Reason = "",
    actor: Actor = None,
    as_json: AsJson = False,
    project: ProjectDir = Path("."),
) -> None:
    """Split the callers between two or more versions with fixed weights.

    [dim]e.g. prodml deploy ab churn-api --arms 3=0.5,4=0.5 --metric roc_auc[/dim]
    """
    try:
        weights = {ref: float(w) for ref, w in (pair.split("=") for pair in arms.split(","))}
    except ValueError:
        raise typer.BadParameter(
            f"{arms!r}: give VERSION=WEIGHT pairs, e.g. 3=0.5,4=0.5.", param_hint="--arms"
        ) from None
    ws = open_workspace(project)
    by = _authorize(ws, name, EXPERIMENT, actor)
    _done(ws.rollouts.ab(name, weights, metric=metric, actor=by, reason=reason), as_json)


@deploy_app.command()
def promote(
    name: Name,
    arm: Annotated[
        str | None, typer.Option(help="An A/B test's arm to promote, e.g. v4.", show_default=False)
    ] = None,
    reason: Reason = "",
    actor: Actor = None,
    as_json: AsJson = False,
    project: ProjectDir = Path("."),
) -> None:
    """Send all traffic to the candidate (or an A/B arm) and make it the model's @champion;
    overrides the analysis, and is recorded as yours.

    [dim]e.g. prodml deploy promote churn-api --reason "AUC held for a week"[/dim]
    """
    ws = open_workspace(project)
    by = _authorize(ws, name, APPROVE, actor)
    _done(ws.rollouts.promote(name, actor=by, reason=reason, arm=arm), as_json)


@deploy_app.command()
def rollback(
    name: Name,
    reason: Reason = "",
    actor: Actor = None,
    as_json: AsJson = False,
    project: ProjectDir = Path("."),
) -> None:
    """Send all traffic back to the stable version.

    [dim]e.g. prodml deploy rollback churn-api --reason "complaints about scores"[/dim]
    """
    ws = open_workspace(project)
    by = _authorize(ws, name, APPROVE, actor)
    _done(ws.rollouts.rollback(name, actor=by, reason=reason), as_json)


@deploy_app.command()
def pause(
    name: Name,
    reason: Reason = "",
    actor: Actor = None,
    as_json: AsJson = False,
    project: ProjectDir = Path("."),
) -> None:
    """Stop the analysis deciding; the traffic keeps its shares until resumed.

    [dim]e.g. prodml deploy pause churn-api --reason "holiday traffic"[/dim]
    """
    ws = open_workspace(project)
    by = _authorize(ws, name, OPERATE, actor)
    _done(ws.rollouts.pause(name, actor=by, reason=reason), as_json)


@deploy_app.command()
def resume(
    name: Name,
    reason: Reason = "",
    actor: Actor = None,
    as_json: AsJson = False,
    project: ProjectDir = Path("."),
) -> None:
    """Let the analysis decide again, or a deployment stopped with refusals answer again.

    [dim]e.g. prodml deploy resume churn-api[/dim]
    """
    ws = open_workspace(project)
    by = _authorize(ws, name, OPERATE, actor)
    _done(ws.rollouts.resume(name, actor=by, reason=reason), as_json)


@deploy_app.command()
def stop(
    name: Name,
    reason: Annotated[
        str, typer.Option(help="Why, recorded with the change and shown to callers.")
    ],
    fallback: Annotated[
        Fallback,
        typer.Option(
            help="previous: the version that answered before answers alone. refuse: every "
            "request gets 503 with the reason, until `prodml deploy resume`."
        ),
    ] = "previous",
    actor: Actor = None,
    as_json: AsJson = False,
    project: ProjectDir = Path("."),
) -> None:
    """The kill switch: stop the live model within one serving.poll_seconds.

    [dim]e.g. prodml deploy stop churn-api --fallback refuse --reason "scores all zero"[/dim]
    """
    ws = open_workspace(project)
    by = _authorize(ws, name, OPERATE, actor)
    _done(ws.rollouts.stop(name, actor=by, reason=reason, fallback=fallback), as_json)


@deploy_app.command()
def tick(name: Name, as_json: AsJson = False, project: ProjectDir = Path(".")) -> None:
    """Judge the rollout once and act: advance, promote, roll back or hold (for a CronJob).

    [dim]e.g. prodml deploy tick churn-api[/dim]
    """
    ws = open_workspace(project)
    _authorize(ws, name, APPROVE, None)
    _decided(ws.analysis.tick(name), as_json)


@deploy_app.command()
def watch(
    name: Name,
    interval: Annotated[
        str | None,
        typer.Option(
            help="Time between analyses, e.g. 30s. Default: rollouts.interval_seconds.",
            show_default=False,
        ),
    ] = None,
    as_json: AsJson = False,
    project: ProjectDir = Path("."),
) -> None:
    """Judge the rollout every interval until it is promoted or rolled back.

    Servers following the deployment judge it themselves (rollouts.in_server); watch
    takes turns with them through the same lease, so a rollout is judged once per interval
    whoever does it. While the metadata store cannot be reached, it decides nothing.
    [dim]e.g. prodml deploy watch churn-api --interval 30s[/dim]
    """
    import time

    from prodml.errors import StoreError
    from prodml.rollout.analysis import IDLE, PROMOTE, ROLLBACK
    from prodml.rollout.leader import Leader

    ws = open_workspace(project)
    _authorize(ws, name, APPROVE, None)
    every = ws.settings.rollouts.interval_seconds
    every = every if interval is None else seconds(interval, "--interval")
    judge = Leader(ws.analysis, ws.metadata, name, every)
    waiting = False
    try:
        while True:
            try:
                decision = judge.step()
            except StoreError as exc:
                err.print(
                    f"[yellow]Not deciding: {exc.message}[/yellow] Trying again in {every:g} s."
                )
            else:
                if decision is None and not waiting:
                    err.print(f"A server is judging {name} now; watching for its turn.")
                elif decision is not None:
                    _decided(decision, as_json)
                    if decision.action in (PROMOTE, ROLLBACK, IDLE):
                        return
                waiting = decision is None
            time.sleep(every)
    finally:
        judge.stop()


@deploy_app.command()
def status(name: Name, as_json: AsJson = False, project: ProjectDir = Path(".")) -> None:
    """The deployment's policy now: its arms, their versions and shares.

    [dim]e.g. prodml deploy status churn-api --json[/dim]
    """
    ws = open_workspace(project)
    change, policy = ws.rollouts.status(name)
    if as_json:
        out.print_json(json.dumps(_plain(change)))
        return
    table = Table(title=f"{name}: {policy.kind} of {policy.model}", title_justify="left")
    for column in ("arm", "version", "share"):
        table.add_column(column)
    for arm in policy.arms:
        share = "shadow (answers no one)" if arm in policy.shadows else f"{arm.weight:.0%}"
        table.add_row(arm.name, arm.version, share)
    out.print(table)
    out.print(f"Revision {change.revision}: {change.action} by {change.actor} — {change.reason}")
    if policy.stopped:
        out.print(f"[bold red]Stopped:[/bold red] {policy.stopped}")
    if change.figures.get("checks"):
        out.print(_checks_table(change.figures["checks"]))


@deploy_app.command()
def history(name: Name, as_json: AsJson = False, project: ProjectDir = Path(".")) -> None:
    """Every change of the deployment's policy: when, who, what and why.

    [dim]e.g. prodml deploy history churn-api[/dim]
    """
    ws = open_workspace(project)
    ws.rollouts.status(name)  # a clear error for an unknown name
    changes = ws.metadata.deployment_history(name)
    if as_json:
        out.print_json(json.dumps([_plain(c) for c in changes]))
        return
    table = Table(title=f"{name}: policy changes", title_justify="left")
    for column in ("revision", "at (UTC)", "actor", "action", "reason"):
        table.add_column(column)
    for c in changes:
        table.add_row(str(c.revision), f"{c.at:%Y-%m-%d %H:%M:%S}", c.actor, c.action, c.reason)
    out.print(table)


@deploy_app.command("list")
def list_(as_json: AsJson = False, project: ProjectDir = Path(".")) -> None:
    """Every deployment and its policy now.

    [dim]e.g. prodml deploy list --json[/dim]
    """
    ws = open_workspace(project)
    deployments = ws.metadata.list_deployments()
    if as_json:
        out.print_json(json.dumps([_plain(c) for c in deployments]))
        return
    if not deployments:
        out.print("No deployments yet: `prodml deploy create NAME --model MODEL@champion`.")
        return
    table = Table(title="Deployments", title_justify="left")
    for column in ("deployment", "policy", "model", "arms", "changed (UTC)"):
        table.add_column(column)
    for c in deployments:
        policy = c.policy
        arms = ", ".join(
            f"{a['name']} v{a['version']} {a['weight']:.0%}" for a in policy.get("arms", [])
        )
        table.add_row(c.deployment, policy["kind"], policy["model"], arms, f"{c.at:%Y-%m-%d %H:%M}")
    out.print(table)


def _authorize(ws: Workspace, name: str, permission: str, actor: str | None) -> str:
    """`authorize` on the model deployment `name` serves (any model when it is new)."""
    change = ws.metadata.deployment(name)
    return authorize(ws, permission, model=change.policy["model"] if change else None, actor=actor)


def _decided(decision: Decision, as_json: bool) -> None:
    if as_json:
        plain = {
            "deployment": decision.deployment,
            "action": decision.action,
            "reason": decision.reason,
            "checks": [c.__dict__ for c in decision.checks],
            "revision": decision.change.revision if decision.change else None,
        }
        out.print_json(json.dumps(plain, default=str))
        return
    colour = {"rollback": "red", "promote": "green", "advance": "green"}.get(decision.action)
    action = f"[{colour}]{decision.action}[/{colour}]" if colour else decision.action
    out.print(f"{decision.deployment}: {action} — {decision.reason}")
    if decision.checks:
        out.print(
            _checks_table(
                {c.name: {"verdict": c.verdict, "reason": c.reason} for c in decision.checks}
            )
        )


def _checks_table(checks: dict[str, dict[str, object]]) -> Table:
    table = Table(title="checks", title_justify="left")
    for column in ("check", "verdict", "why"):
        table.add_column(column)
    colours = {"fail": "red", "pass": "green"}
    for check, found in checks.items():
        verdict = str(found.get("verdict", ""))
        colour = colours.get(verdict, "dim")
        table.add_row(check, f"[{colour}]{verdict}[/{colour}]", str(found.get("reason", "")))
    return table


def _done(change: PolicyChange, as_json: bool = False) -> None:
    if as_json:
        out.print_json(json.dumps(_plain(change)))
        return
    out.print(f"[green]{change.deployment}[/green] revision {change.revision}: {change.reason}.")


def _plain(change: PolicyChange) -> dict[str, object]:
    return {**change.__dict__, "at": change.at.isoformat()}
