"""`prodml ct` on a trained model: a tick, a request, the status and the history."""

import json
import subprocess
import sys

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


def test_two_controllers_started_together_retrain_once(tmp_path, metadata_url):
    """Two `prodml ct tick` processes on one model at once, on each metadata backend: one
    takes the model's lock and retrains, the other finds it held and does nothing."""
    from datetime import UTC, datetime, timedelta

    import yaml

    from prodml.clock import SimulatedClock
    from prodml.workspace import Workspace
    from tests.automate.test_controller import POLICY

    settings = {"metadata_url": metadata_url, "automate": POLICY}
    (tmp_path / "prodml.yaml").write_text(yaml.safe_dump(settings))
    # The ticks run on the wall clock: the world's last outcomes came back two days ago.
    start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(days=160)
    with Workspace.open(tmp_path, SimulatedClock(start + timedelta(days=90))) as ws:
        _world.champion(ws, start)
        traffic = _world.rows(1500, start + timedelta(days=95), shifted=True, seed=1)
        assert _world.serve(ws, traffic) == 0
    command = [sys.executable, "-m", "prodml", "ct", "tick", "toy", "--json", "-C", str(tmp_path)]
    started = [
        subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    done = [p.communicate(timeout=300) for p in started]
    assert [p.returncode for p in started] == [0, 0], [err for _, err in done]
    ticks = sorted((json.loads(out)[0] for out, _ in done), key=lambda t: t["locked"])
    assert [t["locked"] for t in ticks] == [False, True]
    assert "retrained" in [d["kind"] for d in ticks[0]["decisions"]], ticks[0]["decisions"]
    assert ticks[1]["decisions"] == []
    with Workspace.open(tmp_path) as ws:
        assert sorted(v.version for v in ws.registry.list_versions()) == ["1", "2"]
        kinds = [d.kind for d in ws.metadata.list_decisions("toy")]
    assert kinds.count("retraining") == 1
