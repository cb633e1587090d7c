"""`prodml models ...`: the registered versions, their lineage, and moving aliases."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from prodml.cli._auth import authorize, model_of
from prodml.cli._common import Actor, AsJson, ProjectDir, open_workspace, out
from prodml.govern.roles import APPROVE
from prodml.registry.registry import ARCHIVED_TAG, ModelVersionInfo

models_app = typer.Typer(
    help="Registered models: list and show versions, their cards, promote them, archive them.",
    no_args_is_help=True,
)

Ref = Annotated[str, typer.Argument(help="NAME@ALIAS, NAME/VERSION or NAME (the latest).")]


@models_app.command("list")
def list_(
    name: Annotated[str | None, typer.Argument(help="Only this model.")] = None,
    archived: Annotated[bool, typer.Option(help="Include archived versions.")] = False,
    as_json: AsJson = False,
    project: ProjectDir = Path("."),
) -> None:
    """Every registered version, newest first, with its aliases and lineage.

    [dim]e.g. prodml models list churn[/dim]
    """
    ws = open_workspace(project)
    versions = [
        v
        for v in ws.registry.list_versions()
        if (name is None or v.name == name) and (archived or ARCHIVED_TAG not in v.tags)
    ]
    versions.sort(key=lambda v: (v.name, -int(v.version)))
    if as_json:
        out.print_json(json.dumps([_plain(v) for v in versions]))
        return
    if not versions:
        out.print("No registered versions yet: `prodml demo` registers one.")
        return
    table = Table(title="Registered model versions", title_justify="left")
    for column in ("model", "version", "aliases", "registered", "flavor", "features", "run"):
        table.add_column(column)
    for v in versions:
        table.add_row(
            v.name,
            v.version,
            " ".join("@" + a for a in v.aliases)
            + (" (archived)" if ARCHIVED_TAG in v.tags else ""),
            v.created_at.replace("T", " ")[:16],
            v.tags.get("prodml.flavor", ""),
            v.feature_service or "",
            (v.run_id or "")[:12],
        )
    out.print(table)


@models_app.command()
def show(ref: Ref, as_json: AsJson = False, project: ProjectDir = Path(".")) -> None:
    """One version: aliases, tags (lineage), source, and its run's metrics.

    [dim]e.g. prodml models show churn@champion[/dim]
    """
    ws = open_workspace(project)
    info = ws.registry.resolve(ref)
    body = _plain(info)
    metrics = ws.tracker.client.get_run(info.run_id).data.metrics if info.run_id else {}
    if as_json:
        out.print_json(json.dumps({**body, "metrics": metrics}))
        return
    table = Table(
        title=f"{info.name} version {info.version}", title_justify="left", show_header=False
    )
    table.add_column("what", no_wrap=True)
    table.add_column("value", overflow="fold")
    for key in ("aliases", "created_at", "run_id", "source"):
        table.add_row(key, str(body[key]))
    for key, number in sorted(metrics.items()):
        table.add_row(f"metric {key}", f"{number:.4f}")
    for key, text in sorted(info.tags.items()):
        table.add_row(f"tag {key}", text)
    out.print(table)


@models_app.command()
def promote(
    ref: Ref,
    to: Annotated[str, typer.Option("--to", help="The alias to point at it.")] = "champion",
    actor: Actor = None,
    project: ProjectDir = Path("."),
) -> None:
    """Point an alias (champion by default) at a version; servers following it switch.

    [dim]e.g. prodml models promote churn/3 --to champion[/dim]
    """
    ws = open_workspace(project)
    by = authorize(ws, APPROVE, model=model_of(ref), actor=actor)
    info = ws.registry.promote(ref, to, now=ws.clock.now(), actor=by)
    out.print(f"{info.name}@{to} is now version {info.version}.")


@models_app.command()
def allow(
    ref: Ref,
    reason: Annotated[
        str, typer.Option("--reason", help="Why it may be released anyway; recorded.")
    ] = "",
    actor: Actor = None,
    project: ProjectDir = Path("."),
) -> None:
    """Grant an exception to the fairness check for a version it blocked (role approver):
    recorded on the version, in its card and in the audit log; it becomes challenger.

    [dim]e.g. prodml models allow loans/2 --reason "the gap follows the 2019 policy; legal
    review LR-114 accepts it until the new scorecard"[/dim]
    """
    from prodml.registry.promotion import allow as grant

    ws = open_workspace(project)
    by = authorize(ws, APPROVE, model=model_of(ref), actor=actor)
    info = grant(
        ref, reason=reason, actor=by, now=ws.clock.now(), registry=ws.registry, tracker=ws.tracker
    )
    out.print(f"Exception recorded for {info.ref} by {by}; it is now @challenger.")


@models_app.command()
def evidence(
    ref: Ref,
    output: Annotated[Path, typer.Option("--output", "-o", help="Folder to write to.")] = Path(
        "evidence"
    ),
    project: ProjectDir = Path("."),
) -> None:
    """Write a version's technical documentation (EU AI Act Annex IV, as far as software
    can know it) as Markdown and HTML, from the registry, lineage, evaluation, fairness,
    monitoring and audit records alone, with an index of where each piece came from.

    [dim]e.g. prodml models evidence loans@champion -o evidence/[/dim]
    """
    from prodml.evidence import write_evidence

    ws = open_workspace(project)
    markdown, html = write_evidence(ws, ref, output)
    out.print(f"Evidence written: {markdown} and {html} (with the model card).")


@models_app.command()
def archive(
    ref: Ref,
    force: Annotated[bool, typer.Option("--force", help="Even if an alias points to it.")] = False,
    actor: Actor = None,
    project: ProjectDir = Path("."),
) -> None:
    """Retire a version: remove its aliases and mark it archived (its files are kept).

    [dim]e.g. prodml models archive churn/1[/dim]
    """
    ws = open_workspace(project)
    by = authorize(ws, APPROVE, model=model_of(ref), actor=actor)
    info = ws.registry.archive(ref, now=ws.clock.now(), force=force, actor=by)
    out.print(f"{info.name} version {info.version} is archived.")


@models_app.command()
def card(
    ref: Ref,
    output: Annotated[Path, typer.Option("--output", "-o", help="Folder to write to.")] = Path("."),
    project: ProjectDir = Path("."),
) -> None:
    """Write a version's model card as Markdown (with front matter) and HTML.

    [dim]e.g. prodml models card churn@champion -o cards/[/dim]
    """
    from prodml.registry.card import write_card

    ws = open_workspace(project)
    md, html = write_card(ws.registry.resolve(ref), ws.tracking_uri, output)
    out.print(f"Wrote {md} and {html}.")


@models_app.command()
def reproduce(ref: Ref, as_json: AsJson = False, project: ProjectDir = Path(".")) -> None:
    """Re-run a version's recorded pipeline from its snapshots, without cache, and check
    that the new model predicts exactly as the registered one.

    [dim]e.g. prodml models reproduce churn/1[/dim]
    """
    from dataclasses import asdict

    from prodml.errors import IntegrityError
    from prodml.registry.reproduce import reproduce as rerun

    ws = open_workspace(project)
    found = rerun(
        ref,
        ws.registry,
        read_snapshot=ws.read_snapshot,
        snapshot_record=ws.metadata.get_snapshot,
        now=ws.clock.now(),
        code_dir=ws.project_dir,
    )
    if as_json:
        out.print_json(json.dumps(asdict(found)))
    else:
        verdict = "[green]identical[/green]" if found.identical else "[red]different[/red]"
        out.print(
            f"{found.ref}: predictions on {found.rows:,} validation rows are {verdict} (largest "
            f"difference {found.max_abs_difference:.3g}); re-run in {found.seconds:.0f} s."
        )
        for what, change in found.differences.items():
            out.print(f"  {what} changed: {change['then']} → {change['now']}")
        if not found.differences:
            out.print("  Code, packages and feature definitions are as they were.")
    if not found.identical:
        raise IntegrityError(f"{found.ref} did not reproduce; see the differences above.")


def _plain(info: ModelVersionInfo) -> dict[str, object]:
    return {
        "name": info.name,
        "version": info.version,
        "aliases": list(info.aliases),
        "created_at": info.created_at,
        "run_id": info.run_id,
        "source": info.source,
        "tags": dict(info.tags),
    }
