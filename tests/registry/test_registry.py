"""Tracking and registry against a real MLflow store in the workspace."""

import shutil

import mlflow
import numpy as np
import pytest

from prodml.errors import InputError, IntegrityError, NotFoundError
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
    with pytest.raises(InputError, match="not of the form NAME, NAME@ALIAS or NAME/VERSION"):
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
