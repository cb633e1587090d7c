"""With governance.auth on, every command that writes refuses a caller without a token or
whose role does not allow it (and records the refusal), on SQLite and PostgreSQL; the
token comes from PRODML_TOKEN or the credentials file; the first admin token bootstraps."""

import json
import stat

import click
import typer.main
import yaml
from typer.testing import CliRunner

from prodml.cli import app
from prodml.errors import AuthError, ConfigError, ForbiddenError, NotFoundError
from prodml.govern.roles import (
    ADMIN,
    APPROVE,
    EXPERIMENT,
    INGEST,
    LABEL,
    OPERATE,
    PREDICT,
    ROLES,
    TRAIN,
)
from prodml.workspace import Workspace

runner = CliRunner()

# Every command that changes shared state, the permission it takes, and arguments enough
# to reach the check (they name nothing that exists: the check comes first).
WRITES: dict[str, tuple[str, list[str]]] = {
    "train": (TRAIN, ["--data", "orders", "--label", "y"]),
    "serve": (OPERATE, ["orders@champion"]),
    "stream": (OPERATE, ["orders@champion"]),
    "score": (PREDICT, ["orders@champion", "-i", "in.parquet", "-o", "out.parquet"]),
    "data ingest": (INGEST, ["orders.csv", "-c", "orders.contract.yaml"]),
    "features apply": (INGEST, ["features.py"]),
    "features materialize": (INGEST, ["orders"]),
    "features materialize-incremental": (INGEST, ["orders"]),
    "models promote": (APPROVE, ["orders/1"]),
    "models archive": (APPROVE, ["orders/1"]),
    "models allow": (APPROVE, ["orders/1", "--reason", "reviewed"]),
    "log ship": (OPERATE, ["orders"]),
    "monitor run": (OPERATE, ["orders"]),
    "monitor labels": (LABEL, ["orders", "labels.parquet"]),
    "deploy create": (APPROVE, ["api", "--model", "orders@champion"]),
    "deploy canary": (EXPERIMENT, ["api", "--candidate", "2"]),
    "deploy shadow": (EXPERIMENT, ["api", "--candidate", "2"]),
    "deploy ab": (EXPERIMENT, ["api", "--arms", "1=0.5,2=0.5"]),
    "deploy promote": (APPROVE, ["api"]),
    "deploy rollback": (APPROVE, ["api"]),
    "deploy pause": (OPERATE, ["api"]),
    "deploy resume": (OPERATE, ["api"]),
    "deploy stop": (OPERATE, ["api", "--reason", "broken"]),
    "deploy tick": (APPROVE, ["api"]),
    "deploy watch": (APPROVE, ["api"]),
    "auth token create": (ADMIN, ["--role", "viewer", "--name", "pm"]),
    "auth token revoke": (ADMIN, ["000000000000"]),
    "privacy erase": (ADMIN, ["--key", "email=nobody@example.org"]),
    "ct tick": (APPROVE, ["orders"]),
    "ct retrain": (TRAIN, ["orders", "--reason", "new data"]),
    "agent": (APPROVE, ["orders"]),
}
# Commands that only read shared state, or write files of the caller's own.
READS = {
    "init",
    "demo",
    "status",
    "data infer",
    "data validate",
    "data list",
    "data show",
    "data diff",
    "features list",
    "features show",
    "features check-parity",
    "models list",
    "models show",
    "models card",
    "ui",
    "models evidence",
    "models reproduce",
    "monitor alerts",
    "monitor compare",
    "monitor report",
    "monitor exporter",
    "deploy status",
    "deploy history",
    "deploy list",
    "auth token list",
    "auth login",
    "auth logout",
    "auth whoami",
    "audit log",
    "audit verify",
    "ct status",
    "ct history",
}


def _commands(command: click.Command, path: tuple[str, ...] = ()) -> set[str]:
    subcommands = getattr(command, "commands", None)
    if not subcommands:
        return {" ".join(path)}
    return set().union(*(_commands(sub, (*path, n)) for n, sub in subcommands.items()))


def test_every_command_is_known_to_write_or_not():
    found = _commands(typer.main.get_command(app))
    assert found - WRITES.keys() - READS == set(), "classify the new command above"
    assert (WRITES.keys() | READS) - found == set(), "a classified command is gone"


def _run(ws, command: str, args: list[str], token: str | None = None):
    env = {"PRODML_TOKEN": token} if token else {}
    return runner.invoke(app, [*command.split(), *args, "-C", str(ws.project_dir)], env=env)


def test_no_command_that_writes_runs_without_the_right_role(governed, monkeypatch):
    ws, tokens = governed
    monkeypatch.chdir(ws.project_dir)
    for command, (permission, args) in WRITES.items():
        anonymous = _run(ws, command, args)
        assert isinstance(anonymous.exception, AuthError), (command, anonymous.output)
        assert "needs a token of role" in anonymous.exception.message
        wrong = next(r for r, held in ROLES.items() if permission not in held)
        refused = _run(ws, command, args, tokens[wrong])
        assert isinstance(refused.exception, ForbiddenError), (command, refused.output)
        assert f"may not {permission}" in refused.exception.message
        right = next(r for r, held in ROLES.items() if permission in held)
        allowed = _run(ws, command, args, tokens[right])
        assert not isinstance(allowed.exception, AuthError | ForbiddenError), (
            command,
            allowed.exception,
        )
    denied = [e for e in ws.audit.events() if e.action == "auth.denied"]
    assert len(denied) == len(WRITES)  # each refusal of a valid token, recorded
    assert ws.audit.verify().ok


def test_a_client_token_cannot_post_labels_or_move_an_alias(governed):
    ws, tokens = governed
    for command, args in [
        ("monitor labels", ["orders", "x.parquet"]),
        ("models promote", ["orders/1"]),
    ]:
        result = _run(ws, command, args, tokens["client"])
        assert isinstance(result.exception, ForbiddenError)
        assert "(role client)" in result.exception.message


def test_a_change_is_recorded_under_the_tokens_holder_and_actor_cannot_override_it(governed):
    ws, tokens = governed
    created = _run(ws, "auth token create", ["--role", "viewer", "--name", "pm"], tokens["admin"])
    assert created.exit_code == 0, created.output
    event = list(ws.audit.events())[-1]
    admin_id = tokens["admin"].split("_")[1]
    assert (event.action, event.actor) == ("token.create", f"a admin (token {admin_id})")
    pretending = _run(
        ws,
        "auth token create",
        ["--role", "viewer", "--name", "x", "--actor", "alice"],
        tokens["admin"],
    )
    assert isinstance(pretending.exception, ConfigError)
    assert "Drop --actor" in pretending.exception.message


def test_login_keeps_the_token_for_its_database_alone_and_logout_forgets_it(governed):
    ws, tokens = governed
    path = ws.settings.governance.credentials
    login = _run(ws, "auth login", ["--token", tokens["operator"]])
    assert login.exit_code == 0, login.output
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert list(json.loads(path.read_text()).values()) == [tokens["operator"]]
    whoami = _run(ws, "auth whoami", ["--json"])
    assert json.loads(whoami.output)["role"] == "operator"
    paused = _run(ws, "deploy pause", ["api"])  # the kept token is used: it may operate
    assert not isinstance(paused.exception, AuthError | ForbiddenError)
    assert _run(ws, "auth logout", []).exit_code == 0
    assert isinstance(_run(ws, "deploy pause", ["api"]).exception, AuthError)
    bad = _run(ws, "auth login", ["--token", "pml_nope"])
    assert isinstance(bad.exception, AuthError)


def test_a_revoked_token_from_the_environment_says_where_it_came_from(governed):
    ws, tokens = governed
    token_id = tokens["operator"].split("_")[1]
    ws.tokens.revoke(token_id, actor="setup")
    result = _run(ws, "deploy pause", ["api"], tokens["operator"])
    assert isinstance(result.exception, AuthError)
    assert "revoked" in result.exception.message
    assert "PRODML_TOKEN" in result.exception.message


def test_the_first_admin_token_is_issued_without_one_and_only_the_first(tmp_path, clock):
    (tmp_path / "prodml.yaml").write_text(yaml.safe_dump({"governance": {"auth": True}}))
    project = ["-C", str(tmp_path)]
    first = runner.invoke(
        app, ["auth", "token", "create", "--role", "admin", "--name", "root", "--json", *project]
    )
    assert first.exit_code == 0, first.output
    second = runner.invoke(
        app, ["auth", "token", "create", "--role", "admin", "--name", "eve", *project]
    )
    assert isinstance(second.exception, AuthError)
    viewer = runner.invoke(
        app, ["auth", "token", "create", "--role", "viewer", "--name", "pm", *project]
    )
    assert isinstance(viewer.exception, AuthError)
    ws = Workspace.open(tmp_path, clock)
    assert [e.actor.endswith("(first admin)") for e in ws.audit.events()] == [True]
    ws.close()


def test_with_auth_off_the_server_will_not_listen_beyond_this_machine(workspace):
    project = ["-C", str(workspace.project_dir)]
    refused = runner.invoke(app, ["serve", "orders@champion", "--host", "192.0.2.1", *project])
    assert isinstance(refused.exception, ConfigError)
    assert "--insecure-bind" in refused.exception.message
    told = runner.invoke(
        app, ["serve", "orders@champion", "--host", "192.0.2.1", "--insecure-bind", *project]
    )
    assert isinstance(told.exception, NotFoundError)  # past the check: no such model here
