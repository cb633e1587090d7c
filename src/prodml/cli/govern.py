"""`prodml auth` (tokens and their roles) and `prodml audit` (the record of every write)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from prodml.cli._auth import authorize, save_token, signed_in
from prodml.cli._common import Actor, AsJson, ProjectDir, err, open_workspace, out, seconds, who
from prodml.govern.roles import ADMIN
from prodml.workspace import Workspace

auth_app = typer.Typer(help="API tokens and the roles they carry.", no_args_is_help=True)
token_app = typer.Typer(
    help="Issue, list and revoke tokens (shown once, stored only as a hash).",
    no_args_is_help=True,
)
auth_app.add_typer(token_app, name="token")
audit_app = typer.Typer(
    help="The tamper-evident record of every write: read it, verify it.", no_args_is_help=True
)
privacy_app = typer.Typer(help="Personal data: erase a person's records.", no_args_is_help=True)


@token_app.command("create")
def token_create(
    role: Annotated[
        str,
        typer.Option(
            help="viewer, client, labeler, data-engineer, data-scientist, approver, "
            "operator, controller or admin."
        ),
    ],
    name: Annotated[str, typer.Option(help="Whose token, or what for, e.g. checkout-service.")],
    model: Annotated[
        str | None, typer.Option(help="Only this model (default: every model).")
    ] = None,
    expires: Annotated[str, typer.Option(help="Lifetime, e.g. 90d, 12h, or never.")] = "90d",
    actor: Actor = None,
    as_json: AsJson = False,
    project: ProjectDir = Path("."),
) -> None:
    """Issue a token. Its secret is printed once: store it now, prodml keeps only a hash.

    With governance.auth on this takes an admin's token, except the first admin token of
    a workspace that has none (issued by whoever can reach its database, and recorded).
    [dim]e.g. prodml auth token create --role client --name checkout --model churn[/dim]
    """
    lifetime = None if expires == "never" else timedelta(seconds=seconds(expires, "--expires"))
    ws = open_workspace(project)
    if _bootstrap(ws, role):
        by = f"{who(actor)} (first admin)"
    else:
        by = authorize(ws, ADMIN, model=model, actor=actor)
    record, secret = ws.tokens.create(role, name=name, actor=by, model=model, lifetime=lifetime)
    if as_json:
        out.print_json(json.dumps({**_plain(record), "token": secret}))
        return
    out.print(secret, soft_wrap=True, highlight=False)
    scope = f"model {model}" if model else "every model"
    until = f"until {record.expires_at:%Y-%m-%d}" if record.expires_at else "with no expiry"
    err.print(f"A {role} token ({record.id}) for {name}, {scope}, {until}. Shown only now.")


@token_app.command("list")
def token_list(as_json: AsJson = False, project: ProjectDir = Path(".")) -> None:
    """Every token: its id, role, scope and state (never a secret)."""
    tokens = open_workspace(project).tokens.list()
    if as_json:
        out.print_json(json.dumps([_plain(t) for t in tokens]))
        return
    table = Table("id", "name", "role", "model", "created", "expires", "state")
    now = datetime.now(UTC)
    for t in tokens:
        state = "revoked" if t.revoked_at else "live"
        if not t.revoked_at and t.expires_at and t.expires_at <= now:
            state = "expired"
        table.add_row(
            t.id,
            t.name,
            t.role,
            t.model or "(all)",
            f"{t.created_at:%Y-%m-%d} by {t.created_by}",
            f"{t.expires_at:%Y-%m-%d}" if t.expires_at else "never",
            state,
        )
    out.print(table)


@token_app.command("revoke")
def token_revoke(
    token_id: Annotated[str, typer.Argument(help="The token's id (from `list`).")],
    reason: Annotated[str, typer.Option(help="Why, recorded in the audit log.")] = "",
    actor: Actor = None,
    project: ProjectDir = Path("."),
) -> None:
    """Revoke a token: servers refuse it within serving.poll_seconds."""
    ws = open_workspace(project)
    ws.tokens.revoke(token_id, actor=authorize(ws, ADMIN, actor=actor), reason=reason)
    out.print(f"Token {token_id} is revoked.")


@auth_app.command()
def login(
    token: Annotated[
        str | None,
        typer.Option(
            help="The token (default: asked for, unechoed; a token on a command line is "
            "seen by other users).",
            show_default=False,
        ),
    ] = None,
    project: ProjectDir = Path("."),
) -> None:
    """Keep a token for this workspace in the credentials file (governance.credentials),
    readable by you alone; commands use it when PRODML_TOKEN is unset."""
    ws = open_workspace(project)
    token = token or typer.prompt("Token", hide_input=True)
    principal = ws.tokens.authenticate(token)
    path = save_token(ws, token)
    out.print(f"Signed in as {principal.name}, role {principal.role}; the token is kept in {path}.")


@auth_app.command()
def logout(project: ProjectDir = Path(".")) -> None:
    """Forget this workspace's token in the credentials file."""
    ws = open_workspace(project)
    path = save_token(ws, None)
    out.print(f"Signed out: no token for this workspace is kept in {path}.")


@auth_app.command()
def whoami(as_json: AsJson = False, project: ProjectDir = Path(".")) -> None:
    """Who the commands act as here: the token's holder and role, or (with
    governance.auth off) your user name."""
    ws = open_workspace(project)
    if not ws.settings.governance.auth:
        found: dict[str, object] = {"name": who(None), "role": None, "model": None, "auth": False}
    else:
        principal = signed_in(ws)
        found = {**_plain(principal), "auth": True}
    if as_json:
        out.print_json(json.dumps(found))
    elif not found["auth"]:
        out.print(f"{found['name']} (governance.auth is off: every command is allowed).")
    else:
        scope = f", model {found['model']}" if found["model"] else ""
        out.print(f"{found['name']}, role {found['role']}{scope}.")


def _bootstrap(ws: Workspace, role: str) -> bool:
    """Whether this is the first admin token of a workspace with auth on and none live."""
    if not ws.settings.governance.auth or role != "admin":
        return False
    now = ws.clock.now()
    return not any(
        t.role == "admin" and t.revoked_at is None and (t.expires_at is None or t.expires_at > now)
        for t in ws.tokens.list()
    )


@audit_app.command("log")
def audit_log(
    target: Annotated[
        str | None, typer.Option("--model", help="Only events about this model (or target).")
    ] = None,
    since: Annotated[
        str | None, typer.Option(help="Only events from this long ago, e.g. 7d, or a date.")
    ] = None,
    as_json: AsJson = False,
    project: ProjectDir = Path("."),
) -> None:
    """Read the audit log, oldest first.

    [dim]e.g. prodml audit log --model churn --since 7d[/dim]
    """
    ws = open_workspace(project)
    events = list(ws.audit.events(since=_since(since), target=target))
    if as_json:
        out.print_json(json.dumps([{**e.__dict__, "at": e.at.isoformat()} for e in events]))
        return
    table = Table("#", "at (UTC)", "who", "did", "on", "why")
    for e in events:
        table.add_row(
            str(e.seq), f"{e.at:%Y-%m-%d %H:%M:%S}", e.actor, e.action, e.target, e.reason
        )
    out.print(table)


@audit_app.command("verify")
def audit_verify(as_json: AsJson = False, project: ProjectDir = Path(".")) -> None:
    """Check every event's hash and link and every anchor, naming the first bad event;
    then find any alias moved directly in MLflow (recorded, and moved back with
    governance.restore_aliases).

    Exits 1 when the log was tampered with or an alias moved outside prodml. Run it from a
    CronJob: a good verdict also anchors the head, so later deletions of the newest events
    are caught.
    """
    from prodml.registry.aliases import check_aliases

    ws = open_workspace(project)
    verdict = ws.audit.verify()
    if verdict.ok and verdict.head:
        ws.audit.anchor(next(ws.audit.metadata.audit_events(after=verdict.head - 1)))
    days = ws.settings.governance.audit_retention_days
    pruned = ws.audit.prune(timedelta(days=days)) if verdict.ok and days else 0
    restore = ws.settings.governance.restore_aliases
    drifts = check_aliases(ws.registry, ws.audit, restore=restore) if verdict.ok else []
    if as_json:
        moved = [d.__dict__ for d in drifts]
        document = {**verdict.__dict__, "pruned": pruned, "aliases_moved_outside": moved}
        out.print_json(json.dumps(document))
    else:
        (out if verdict.ok else err).print(verdict.sentence())
        if pruned:
            out.print(f"Deleted {pruned:,} events older than {days} days (retention).")
        for drift in drifts:
            back = f" Moved back to version {drift.recorded}." if restore and drift.recorded else ""
            err.print(f"{drift.sentence()}; recorded.{back}")
    if not verdict.ok or drifts:
        raise typer.Exit(1)


@privacy_app.command("erase")
def privacy_erase(
    key: Annotated[
        str,
        typer.Option(
            "--key", help="COLUMN=VALUE: the person's identifier, as their data holds it."
        ),
    ],
    reason: Annotated[str, typer.Option(help="Why (e.g. the request's reference).")] = "",
    actor: Actor = None,
    project: ProjectDir = Path("."),
) -> None:
    """Erase a person's records (GDPR Art. 17): from every prediction log (by value or
    its keyed hash), the labels and overrides of those requests, and the ingestion
    quarantine. Recorded in the audit log with the counts, never the value; role admin.

    [dim]e.g. prodml privacy erase --key customer_email=alice@example.org --reason DSR-1042[/dim]
    """
    from prodml.erasure import erase_subject

    column, sep, value = key.partition("=")
    if not sep or not column.strip() or not value:
        raise typer.BadParameter("give the person as COLUMN=VALUE", param_hint="--key")
    ws = open_workspace(project)
    by = authorize(ws, ADMIN, actor=actor)
    erasure = erase_subject(ws, column.strip(), value, actor=by, reason=reason)
    out.print(erasure.sentence())


def _since(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        return datetime.fromisoformat(text).replace(tzinfo=UTC)
    except ValueError:
        return datetime.now(UTC) - timedelta(seconds=seconds(text, "--since"))


def _plain(record: object) -> dict[str, object]:
    return {
        k: v.isoformat() if isinstance(v, datetime) else v
        for k, v in record.__dict__.items()
        if k != "secret_hash"
    }
