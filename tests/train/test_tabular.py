"""The standard pipeline end to end on generated data: tracked and gated, and a second run
with nothing changed reuses every step and adds no model run."""

from datetime import UTC, datetime

import mlflow
import pytest

from prodml.errors import TrainingError
from tests._data import nonlinear_examples, toy_train, toy_train_spec


def test_train_tracks_and_gates_then_reuses_everything(workspace):
    examples = nonlinear_examples()
    first = toy_train(workspace, toy_train_spec(), examples)
    assert first.pipeline.ran[:2] == ["train_rows", "valid_rows"]
    assert first.best == "lightgbm"
    assert first.gate["passed"], first.gate["reasons"]
    lgbm = first.evaluations["lightgbm"]
    assert lgbm["metrics"]["roc_auc"] > first.evaluations["logistic"]["metrics"]["roc_auc"] + 0.05
    assert {s["value"] for s in lgbm["slices"]} == {"red", "green", "blue"}
    assert lgbm["best_threshold"]["threshold"] < 0.5  # a missed positive costs 5× a false alarm
    assert first.tags["prodml.snapshot.toy"] == "cd" * 32

    client = mlflow.MlflowClient(workspace.tracking_uri)
    child = client.get_run(first.run_ids["lightgbm"])
    assert child.data.tags["mlflow.parentRunId"] == first.pipeline_run_id
    assert child.data.params["flavor"] == "lightgbm"
    assert "evaluation.json" in {a.path for a in client.list_artifacts(child.info.run_id)}
    plots = {a.path for a in client.list_artifacts(child.info.run_id, "plots")}
    assert plots == {"plots/calibration.png", "plots/roc.png", "plots/slices.png"}

    again = toy_train(workspace, toy_train_spec(), examples)
    assert again.pipeline.ran == []
    assert again.run_ids == first.run_ids  # no duplicate runs for reused models
    assert again.best_key == first.best_key


def test_a_changed_split_reruns_what_it_feeds(workspace):
    examples = nonlinear_examples()
    toy_train(workspace, toy_train_spec(), examples)
    later = toy_train(
        workspace, toy_train_spec(valid_from=datetime(2024, 4, 15, tzinfo=UTC)), examples
    )
    assert len(later.pipeline.ran) == len(later.pipeline.records)  # every model saw new rows


def test_bad_training_data_is_explained(workspace):
    examples = nonlinear_examples()
    with pytest.raises(TrainingError, match=r"No rows with 2030-01-01.*Move the split dates"):
        toy_train(workspace, toy_train_spec(valid_from=datetime(2030, 1, 1, tzinfo=UTC)), examples)
    with pytest.raises(TrainingError, match="has 1 distinct value"):
        toy_train(workspace, toy_train_spec(), examples.assign(y=0))
    with pytest.raises(TrainingError, match="label column 'label' is not in the training data"):
        toy_train(workspace, toy_train_spec(label="label"), examples)


def test_a_candidate_that_fails_to_fit_is_named(workspace):
    from prodml.train.tabular import Candidate

    broken = Candidate("lightgbm", "lightgbm", {"num_leaves": -5})
    with pytest.raises(TrainingError, match=r"Step 'fit_lightgbm' failed: .*num_leaves"):
        toy_train(workspace, toy_train_spec(candidates=(broken,)), nonlinear_examples())


def test_a_regression_is_trained_gated_and_described_as_one(workspace):
    import mlflow

    from prodml.registry.card import build_card
    from prodml.registry.promotion import register_result

    examples = nonlinear_examples()
    examples["minutes"] = 30 * examples["size"].abs() + 10 * (examples["color"] == "red")
    spec = toy_train_spec(task="regression", label="minutes")
    result = toy_train(workspace, spec, examples)
    assert [m.name for m in spec.models] == ["mean", "ridge", "lightgbm"]
    assert result.gate["metric"] == "rmse"
    assert result.gate["passed"], result.gate["reasons"]
    lgbm = result.evaluations["lightgbm"]["metrics"]
    assert lgbm["rmse"] < result.evaluations["ridge"]["metrics"]["rmse"]
    assert lgbm["r2"] > 0.5  # 30 rounds at the default rate: good, not perfect
    assert result.evaluations["lightgbm"]["slices"][0]["metric"] == "rmse"
    client = mlflow.MlflowClient(workspace.tracking_uri)
    plots = {a.path for a in client.list_artifacts(result.run_ids["lightgbm"], "plots")}
    assert plots == {"plots/predicted.png", "plots/slices.png"}
    version = register_result(result, "toy", workspace.registry, workspace.tracker, first=True)
    card = build_card(version, workspace.tracking_uri)
    assert "A lightgbm regressor registered" in card
    assert "## Calibration" not in card
    with pytest.raises(TrainingError, match="regression needs a varying number"):
        toy_train(workspace, spec, examples.assign(minutes=5.0))
