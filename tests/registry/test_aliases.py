"""An alias moved directly in MLflow, behind prodml's back, is found by the next check
against the audit log, recorded once, reported by `prodml audit verify`, and (with
governance.restore_aliases) moved back."""

import json

import mlflow
import yaml
from typer.testing import CliRunner

from prodml.cli import app
from prodml.registry.aliases import UNRECORDED, check_aliases, recorded_aliases
from prodml.workspace import Workspace
from tests._data import log_model_run

runner = CliRunner()


def _two_versions(ws, model):
    run_id = log_model_run(ws, model)
    v1 = ws.registry.register("toy", run_id)
    v2 = ws.registry.register("toy", run_id)
    ws.registry.set_alias("toy", "champion", v1.version)
    return v1, v2


def test_moves_made_by_prodml_are_not_drift(workspace, toy_lightgbm):
    v1, _ = _two_versions(workspace, toy_lightgbm)
    workspace.registry.promote("toy/2", "challenger", now=workspace.clock.now())
    workspace.registry.archive("toy/2", now=workspace.clock.now(), force=True)
    assert recorded_aliases(workspace.audit.events()) == {"toy@champion": v1.version}
    assert check_aliases(workspace.registry, workspace.audit) == []


def test_a_move_in_mlflow_is_found_recorded_once_and_reported(workspace, toy_lightgbm):
    v1, v2 = _two_versions(workspace, toy_lightgbm)
    client = mlflow.MlflowClient(workspace.tracking_uri)
    client.set_registered_model_alias("toy", "champion", v2.version)
    client.set_registered_model_alias("toy", "sneaky", v1.version)
    (champion, sneaky) = check_aliases(workspace.registry, workspace.audit)
    assert (champion.alias, champion.recorded, champion.found) == ("toy@champion", "1", "2")
    assert (sneaky.recorded, sneaky.found) == (None, "1")
    assert "moved outside prodml" in champion.sentence()
    events = [e for e in workspace.audit.events() if e.action == UNRECORDED]
    assert [e.target for e in events] == ["toy@champion", "toy@sneaky"]
    assert events[0].figures == {"recorded": "1", "found": "2"}
    assert check_aliases(workspace.registry, workspace.audit) == []  # reported once
    client.delete_registered_model_alias("toy", "sneaky")
    (deleted,) = check_aliases(workspace.registry, workspace.audit)
    assert (deleted.alias, deleted.found) == ("toy@sneaky", None)
    assert workspace.audit.verify().ok


def test_audit_verify_reports_it_and_moves_it_back_when_set(tmp_path, toy_lightgbm):
    (tmp_path / "prodml.yaml").write_text(yaml.safe_dump({"governance": {"restore_aliases": True}}))
    with Workspace.open(tmp_path) as ws:
        v1, v2 = _two_versions(ws, toy_lightgbm)
        tracking = ws.tracking_uri
    mlflow.MlflowClient(tracking).set_registered_model_alias("toy", "champion", v2.version)
    moved = runner.invoke(app, ["audit", "verify", "--dir", str(tmp_path)])
    assert moved.exit_code == 1
    assert "toy@champion was moved outside prodml" in moved.output
    assert "Moved back to version 1" in moved.output
    with Workspace.open(tmp_path) as ws:
        assert ws.registry.resolve("toy@champion").version == v1.version
        last = list(ws.audit.events())[-1]
        assert (last.action, last.actor) == ("alias.move", "prodml")
    again = runner.invoke(app, ["audit", "verify", "--dir", str(tmp_path), "--json"])
    assert again.exit_code == 0, again.output
    assert json.loads(again.output)["aliases_moved_outside"] == []
