"""Reproduce: the recorded recipe re-run from scratch predicts exactly as the registered
model; changed data is caught; a version without a recipe is explained."""

from datetime import UTC, datetime

import pytest

from prodml.errors import ConfigError
from prodml.registry.promotion import register_result
from prodml.registry.reproduce import reproduce
from prodml.store.records import SnapshotRecord
from prodml.train.tabular import RECIPE_TAG
from tests._data import log_model_run, nonlinear_examples, toy_train, toy_train_spec

SNAP = SnapshotRecord(
    "cd" * 32, "toy.parquet", datetime(2024, 1, 1, tzinfo=UTC), 4000, 5, "file:///t"
)


def _registered(workspace, examples):
    result = toy_train(workspace, toy_train_spec(), examples)
    result.tags[RECIPE_TAG] = "tests._data:toy_recipe"
    return register_result(result, "toy", workspace.registry, workspace.tracker, first=True)


def test_a_deterministic_pipeline_reproduces_bit_for_bit(workspace):
    examples = nonlinear_examples()
    version = _registered(workspace, examples)
    found = reproduce(
        f"toy/{version.version}",
        workspace.registry,
        read_snapshot=lambda sid: examples,
        snapshot_record=lambda sid: SNAP,
        now=workspace.clock.now(),
        code_dir=workspace.project_dir,
    )
    assert found.identical
    assert found.max_abs_difference == 0.0
    assert found.same_step_key
    assert found.differences == {}
    assert found.rows == len(examples[examples["at"] >= "2024-04-01"])


def test_different_data_is_caught(workspace):
    examples = nonlinear_examples()
    version = _registered(workspace, examples)
    flipped = examples.assign(y=1 - examples["y"])
    found = reproduce(
        f"toy/{version.version}",
        workspace.registry,
        read_snapshot=lambda sid: flipped,
        snapshot_record=lambda sid: SNAP,
        now=workspace.clock.now(),
    )
    assert not found.identical
    assert found.max_abs_difference > 0.1


def test_a_version_without_a_recipe_says_so(workspace, toy_lightgbm):
    version = workspace.registry.register("hand", log_model_run(workspace, toy_lightgbm))
    with pytest.raises(ConfigError, match=r"hand/1 has no recorded recipe"):
        reproduce(
            f"hand/{version.version}",
            workspace.registry,
            read_snapshot=lambda sid: None,
            snapshot_record=lambda sid: SNAP,
            now=workspace.clock.now(),
        )
