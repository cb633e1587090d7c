"""`prodml ct` on a trained model: a tick, a request, the status and the history."""

import json

from typer.testing import CliRunner

from prodml.cli.main import app
from tests.automate import _world

runner = CliRunner()


def _run(ws, *args):
    result = runner.invoke(app, [*args, "-C", str(ws.project_dir)])
    assert result.exit_code == 0, result.output
    return result.output


def test_tick_request_status_and_history(workspace):
    (workspace.project_dir / "prodml.yaml").write_text("automate:\n  monitor: false\n")
    _world.champion(workspace)
    (first,) = json.loads(_run(workspace, "ct", "tick", "--json"))  # every model
    assert first["model"] == "toy"
    assert not first["locked"]
    assert [d["kind"] for d in first["decisions"]] == ["policy", "evaluated"]
    assert "Requested" in _run(workspace, "ct", "retrain", "toy", "--reason", "new fleet")
    status = json.loads(_run(workspace, "ct", "status", "toy", "--json"))
    assert status["state"]["requested"] == "new fleet"
    assert status["next"]["triggers"] == ["demand: new fleet"]
    assert not status["next"]["retrain"]  # no labelled production row yet
    assert "min_new_labels" in status["next"]["guards"][0]
    shown = _run(workspace, "ct", "status", "toy")
    assert "next tick: no retrain" in shown
    history = json.loads(_run(workspace, "ct", "history", "toy", "--json"))
    assert [d["kind"] for d in history] == ["policy", "evaluated", "requested"]
    assert "requested" in _run(workspace, "ct", "history", "toy")
    unknown = runner.invoke(app, ["ct", "history", "nobody", "-C", str(workspace.project_dir)])
    assert unknown.exit_code != 0
