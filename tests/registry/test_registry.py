"""Tracking and registry against a real MLflow store in the workspace."""

import shutil

import mlflow
import numpy as np
import pytest

from prodml.errors import ConfigError, IntegrityError, NotFoundError, StateError
from tests._data import log_model_run


@pytest.fixture
def model(toy_lightgbm):
    return toy_lightgbm


def test_registered_versions_and_aliases_are_visible_to_mlflows_own_client(workspace, model):
    run_id = log_model_run(workspace, model)
    info = workspace.registry.register("toy", run_id)
    workspace.registry.set_alias("toy", "champion", info.version)

    client = mlflow.MlflowClient(tracking_uri=workspace.tracking_uri)
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED"
    assert run.data.metrics == {"roc_auc": 0.8}  # NaN is not logged as a number
    assert run.data.tags["prodml.snapshot.toy"] == "abc"
    assert client.get_model_version_by_alias("toy", "champion").run_id == run_id


def test_load_by_alias_version_or_name_gives_the_same_model(workspace, model):
    run_id = log_model_run(workspace, model)
    v1 = workspace.registry.register("toy", run_id)
    v2 = workspace.registry.register("toy", run_id)
    workspace.registry.set_alias("toy", "champion", v1.version)
    rows = [{"color": "red", "size": 1.0, "noise": None}]
    for ref, version in (("toy@champion", v1.version), ("toy/2", v2.version), ("toy", v2.version)):
        info, loaded = workspace.registry.load(ref)
        assert info.version == version
        np.testing.assert_array_equal(loaded.predict_rows(rows), model.predict_rows(rows))


def test_a_failed_run_is_marked_failed(workspace):
    with pytest.raises(RuntimeError), workspace.tracker.run("broken") as run_id:
        raise RuntimeError("boom")
    assert mlflow.MlflowClient(workspace.tracking_uri).get_run(run_id).info.status == "FAILED"


def test_unknown_references_say_how_to_find_the_right_one(workspace):
    with pytest.raises(NotFoundError, match=r"looking up ghost@champion.*prodml status"):
        workspace.registry.resolve("ghost@champion")
    with pytest.raises(NotFoundError, match="No versions of model 'ghost'"):
        workspace.registry.resolve("ghost")
    with pytest.raises(ConfigError, match="not of the form NAME, NAME@ALIAS or NAME/VERSION"):
        workspace.registry.resolve("bad ref!")


def test_a_version_whose_files_are_gone_is_not_found_and_leaves_no_debris(workspace, model):
    info = workspace.registry.register("toy", log_model_run(workspace, model))
    shutil.rmtree(info.source.removeprefix("file://"))
    with pytest.raises(NotFoundError, match="downloading model toy/1"):
        workspace.registry.load("toy/1")
    assert list((workspace.registry.cache_dir / "toy").iterdir()) == []


def test_a_tampered_cached_model_is_refused(workspace, model):
    info = workspace.registry.register("toy", log_model_run(workspace, model))
    workspace.registry.load("toy")
    (cached,) = (workspace.registry.cache_dir / "toy").glob(f"{info.version}-*/model.json")
    cached.write_text(cached.read_text().replace("lightgbm", "logistic"))
    with pytest.raises(IntegrityError, match=r"model toy v1: model\.json has SHA-256"):
        workspace.registry.load("toy")


def test_promote_moves_an_alias_and_archive_retires_a_version(workspace, model, clock):
    run_id = log_model_run(workspace, model)
    v1 = workspace.registry.register("toy", run_id)
    v2 = workspace.registry.register("toy", run_id)
    workspace.registry.promote("toy/1", "champion", now=clock.now())
    promoted = workspace.registry.promote(f"toy/{v2.version}", "champion", now=clock.now())
    assert promoted.aliases == ("champion",)
    assert promoted.tags["prodml.promoted.champion"] == clock.now().isoformat()
    listed = {v.version: v for v in workspace.registry.list_versions()}
    assert listed[v2.version].aliases == ("champion",)
    assert listed[v1.version].aliases == ()
    with pytest.raises(StateError, match=r"toy/2 is @champion: serving may follow it.*--force"):
        workspace.registry.archive("toy@champion", now=clock.now())
    archived = workspace.registry.archive("toy/1", now=clock.now())
    assert "prodml.archived" in archived.tags
    with pytest.raises(StateError, match=r"toy/1 was archived on .*promote another version"):
        workspace.registry.promote("toy/1", "challenger", now=clock.now())
    with pytest.raises(ConfigError, match="Alias 'not ok!' must be letters"):
        workspace.registry.promote("toy/2", "not ok!", now=clock.now())


def test_the_models_cli_lists_shows_promotes_and_archives(tmp_path, model, monkeypatch):
    import json

    from typer.testing import CliRunner

    from prodml.cli import app
    from prodml.workspace import Workspace

    monkeypatch.setenv("COLUMNS", "150")
    ws = Workspace.open(tmp_path)
    run_id = log_model_run(ws, model)
    ws.registry.register("toy", run_id, tags={"prodml.flavor": "lightgbm"})
    ws.registry.register("toy", run_id)
    ws.close()
    runner, project = CliRunner(), ["-C", str(tmp_path)]
    assert runner.invoke(app, ["models", "promote", "toy/1", *project]).exit_code == 0
    listed = json.loads(runner.invoke(app, ["models", "list", "--json", *project]).output)
    assert [(v["version"], v["aliases"]) for v in listed] == [("2", []), ("1", ["champion"])]
    shown = json.loads(
        runner.invoke(app, ["models", "show", "toy@champion", "--json", *project]).output
    )
    assert shown["metrics"] == {"roc_auc": 0.8}
    assert shown["tags"]["prodml.flavor"] == "lightgbm"
    refused = runner.invoke(app, ["models", "archive", "toy/1", *project])
    assert refused.exit_code == 1
    assert "--force" in str(refused.exception)
    assert runner.invoke(app, ["models", "archive", "toy/2", *project]).exit_code == 0
    table = runner.invoke(app, ["models", "list", *project]).output
    assert "@champion" in table
    assert "archived" not in table
    assert "(archived)" in runner.invoke(app, ["models", "list", "--archived", *project]).output
    written = runner.invoke(
        app, ["models", "card", "toy@champion", "-o", str(tmp_path / "c"), *project]
    )
    assert written.exit_code == 0, written.output
    # A run logged without prodml's evaluation still gets a (shorter) card.
    assert "## Lineage" in (tmp_path / "c" / "model_card.md").read_text()


def test_a_registered_version_shows_its_input_signature_in_mlflow(workspace, model, tmp_path):
    from mlflow.artifacts import download_artifacts
    from mlflow.models import Model

    version = workspace.registry.register("toy", log_model_run(workspace, model))
    path = download_artifacts(artifact_uri=f"{version.source}/MLmodel", dst_path=str(tmp_path))
    signature = Model.load(path).signature
    inputs = {c.name: c.type.name for c in signature.inputs.inputs}
    assert inputs == {"color": "string", "size": "double", "noise": "double"}
