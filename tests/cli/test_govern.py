"""`prodml auth token` and `prodml audit`: a token issued, listed without its secret and
revoked; the audit log read, verified, and found out when edited."""

import json

from sqlalchemy import create_engine, text
from typer.testing import CliRunner

from prodml.cli import app

runner = CliRunner()


def test_tokens_and_the_audit_log_from_the_command_line(workspace):
    project = ["-C", str(workspace.project_dir)]

    def run(*args: str, code: int = 0) -> str:
        result = runner.invoke(app, [*args, *project])
        assert result.exit_code == code, result.output
        return result.output

    created = json.loads(
        run("auth", "token", "create", "--role", "client", "--name", "shop", "--json")
    )
    assert created["token"].startswith("pml_")
    listed = run("auth", "token", "list", "--json")
    assert created["token"].split("_")[-1] not in listed
    assert "secret_hash" not in listed
    assert json.loads(listed)[0]["role"] == "client"
    run("auth", "token", "revoke", created["id"], "--reason", "leaked")
    assert "revoked" in run("auth", "token", "list")
    events = json.loads(run("audit", "log", "--json"))
    assert [e["action"] for e in events] == ["token.create", "token.revoke"]
    assert "intact: 2 events" in run("audit", "verify")
    engine = create_engine(workspace.metadata.url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE audit_events SET actor = 'nobody' WHERE seq = 1"))
    engine.dispose()
    assert "tampered with at event 1" in run("audit", "verify", code=1)
    unknown = runner.invoke(
        app, ["auth", "token", "create", "--role", "root", "--name", "x", *project]
    )
    assert unknown.exit_code != 0  # the entry point prints the error's message
    assert "the roles are: viewer" in str(unknown.exception)
