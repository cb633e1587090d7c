"""The command line's side of governance: which token a command runs with, and the check
every command that writes makes before it touches anything.

The token comes from `PRODML_TOKEN`, else from the credentials file `prodml auth login`
wrote (governance.credentials), keyed by the metadata database the token belongs to.
This guards the commands; a process that holds the database's own credentials is
trusted, so keep those to the servers and the people who run them.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from sqlalchemy.engine import make_url

from prodml.cli._common import who
from prodml.errors import AuthError, ConfigError
from prodml.govern.roles import Principal, refusal, roles_with
from prodml.workspace import Workspace

ENV_VARIABLE = "PRODML_TOKEN"


def authorize(
    ws: Workspace, permission: str, *, model: str | None = None, actor: str | None = None
) -> str:
    """The name a change is recorded under. With governance.auth off: `actor`, else the
    user's name. On: the holder of the command's token, if its role allows `permission`
    (on `model`); else `AuthError` or `ForbiddenError`, the refusal recorded."""
    if not ws.settings.governance.auth:
        return who(actor)
    principal = signed_in(ws, needed=permission)
    if actor and actor != principal.name:
        raise ConfigError(
            f"--actor {actor!r}: with governance.auth on, a change is recorded under its "
            f"token's holder ({principal.name}). Drop --actor, or sign in as {actor}."
        )
    if not principal.may(permission, model):
        denied = refusal(principal, permission, model)
        ws.audit.record(
            principal.name,
            "auth.denied",
            f"model/{model}" if model else "cli",
            denied.message,
            {"permission": permission, "where": "cli"},
        )
        raise denied
    ws.audit.actor = principal.name  # what the command records, it records as theirs
    return principal.name


def model_of(ref: str) -> str:
    """The model a reference names: "churn" of churn@champion, churn/3 or churn."""
    return re.split(r"[@/]", ref, maxsplit=1)[0]


def signed_in(ws: Workspace, needed: str | None = None) -> Principal:
    """Who the command's token belongs to; `AuthError` naming where it looked (and the
    roles that hold `needed`) when there is none or it is not valid."""
    token, source = token_in_use(ws)
    if token is None:
        roles = f" of role {' or '.join(roles_with(needed))}" if needed else ""
        raise AuthError(
            f"governance.auth is on: this command needs a token{roles}. Set {ENV_VARIABLE}, "
            "or run `prodml auth login` once."
        )
    try:
        return ws.tokens.authenticate(token)
    except AuthError as exc:
        raise AuthError(f"{exc.message} (the token from {source})") from None


def token_in_use(ws: Workspace) -> tuple[str | None, str]:
    """The command's token and where it came from."""
    if os.environ.get(ENV_VARIABLE):
        return os.environ[ENV_VARIABLE], ENV_VARIABLE
    path = credentials_path(ws)
    return _read(path).get(_key(ws)), str(path)


def save_token(ws: Workspace, token: str | None) -> Path:
    """Keep `token` (None: forget it) for this workspace's database, readable by its
    owner alone."""
    path = credentials_path(ws)
    saved = _read(path)
    if token is None:
        saved.pop(_key(ws), None)
    else:
        saved[_key(ws)] = token
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as out:
        json.dump(saved, out, indent=2)
    path.chmod(0o600)
    return path


def credentials_path(ws: Workspace) -> Path:
    configured = ws.settings.governance.credentials
    return configured or Path.home() / ".config" / "prodml" / "credentials.json"


def _key(ws: Workspace) -> str:
    """The database a token is valid in, with any password hidden."""
    return make_url(str(ws.settings.metadata_url)).render_as_string(hide_password=True)


def _read(path: Path) -> dict[str, str]:
    if not path.exists():
        return {}
    try:
        saved = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ConfigError(
            f"{path}: the credentials file cannot be read ({exc}). Delete it and run "
            "`prodml auth login` again."
        ) from None
    if not isinstance(saved, dict):
        raise ConfigError(f"{path}: not a credentials file. Delete it and sign in again.")
    return saved
