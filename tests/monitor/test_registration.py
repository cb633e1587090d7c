"""What registration keeps for monitoring: the reference, CBPE's calibration and the
fairness group metrics, computed once from the version's own rows."""

import json
from pathlib import Path

import mlflow
import numpy as np
import pytest

from prodml.errors import ConfigError, NotFoundError
from prodml.train import fit_model
from tests._data import TOY_SPEC, log_model_run, nonlinear_examples, toy_frame, toy_train_spec


def test_a_registered_version_keeps_its_reference_calibration_and_fairness(workspace, rng):
    train, holdout = toy_frame(rng, 3_000), toy_frame(rng, 2_000)
    model = fit_model("logistic", train, "y", TOY_SPEC)
    version = workspace.registry.register("toy", log_model_run(workspace, model)).version
    with pytest.raises(NotFoundError, match="No drift reference for toy version 1"):
        workspace.reference("toy", version)
    workspace.save_reference(
        "toy", version, train, TOY_SPEC.names, holdout=holdout, label="y", sensitive=["color"]
    )
    reference = workspace.reference("toy", version)
    assert set(reference.columns) == {*TOY_SPEC.names, "prediction"}
    assert reference.rows == 3_000
    assert len(reference.sample) == 3_000
    assert reference.estimator is not None
    assert reference.estimator["x"] == sorted(reference.estimator["x"])  # a monotone map
    groups = reference.fairness["color"]["groups"]
    assert set(groups) == set(train["color"].dropna().astype(str))
    assert 0 <= reference.fairness["color"]["demographic_parity_difference"] <= 1


def _register(workspace, spec):
    from prodml.store.records import SnapshotRecord
    from prodml.train.tabular import Recipe
    from prodml.workflow import train_and_register

    examples = nonlinear_examples()
    snapshot = SnapshotRecord("cd" * 32, "toy.parquet", examples["at"].min(), 4000, 5, "file:///t")
    return train_and_register(workspace, Recipe(examples, spec), inputs={"toy": snapshot})


def test_the_estimate_is_calibrated_only_on_rows_held_back_from_everything(workspace, tmp_path):
    """Held-back rows are in no step that chose, calibrated or judged the model; the
    reference's estimator is fitted on them alone, and the card states its error."""
    from prodml.registry.card import ESTIMATE_TAG, build_card

    registered = _register(workspace, toy_train_spec(min_reserve_rows=200))
    result = registered.result
    outputs = result.pipeline.outputs
    held_back, valid = set(result.estimate_rows["at"]), set(outputs["valid_rows"]["at"])
    assert not result.estimate_cross_fitted
    assert not held_back & valid
    assert not held_back & set(outputs["train_rows"]["at"])
    assert len(held_back) + len(valid) == (nonlinear_examples()["at"] >= "2024-04-01").sum()
    assert len(held_back) == pytest.approx(len(valid) / 2, rel=0.05)  # a third of the period
    # Every step that judged or calibrated the model read the validation rows only.
    assert result.evaluations["lightgbm"]["rows"] == len(valid)
    assert result.evaluations["lightgbm"]["conformal"]["rows"] == len(valid)
    assert len(result.scores["lightgbm"]) == len(valid)
    reference = workspace.reference("toy", registered.version.version)
    assert reference.estimator["rows"] == len(held_back)
    assert reference.errors["rows"] == len(held_back)
    # Its error, measured on windows of those rows, is on the version and in its card.
    error = json.loads(registered.version.tags[ESTIMATE_TAG])
    assert error == {**reference.estimator["error"], "source": error["source"]}
    card = build_card(registered.version, workspace.tracking_uri)
    assert "## Performance estimated before labels arrive" in card
    assert f"calibrated on {len(held_back):,} validation rows held back from evaluation" in card
    mae, bias = error["roc_auc"]["mae"], error["roc_auc"]["bias"]
    assert f"| roc_auc | {mae:.4f} | {bias:+.4f} |" in card
    assert "| held back (for the estimate) |" in card
    # The card kept beside the model was written again once the error was known.
    client = mlflow.MlflowClient(workspace.tracking_uri)
    kept = client.download_artifacts(result.run_ids["lightgbm"], "card/model_card.md", tmp_path)
    assert "## Performance estimated before labels arrive" in Path(kept).read_text()


def test_too_few_validation_rows_to_hold_back_are_cross_fitted_instead(workspace):
    from prodml.registry.card import build_card

    registered = _register(workspace, toy_train_spec())  # a third would be 605 < 1,000 rows
    result = registered.result
    valid = result.pipeline.outputs["valid_rows"]
    assert len(result.pipeline.outputs["reserve_rows"]) == 0
    assert result.estimate_cross_fitted
    assert result.evaluations["lightgbm"]["rows"] == len(valid) == len(result.estimate_rows)
    assert result.estimate_rows["at"].is_monotonic_increasing  # windows are cut in time order
    # Served scores of the validation rows came through a map fitted on them: the estimate
    # is calibrated on scores each from a map fitted without its block, not those.
    decision = result.evaluations["lightgbm"]["calibration_decision"]
    if decision["map"]:
        in_order = result.scores["lightgbm"][valid["at"].argsort().to_numpy()]
        assert not np.allclose(result.estimate_scores, in_order)
    reference = workspace.reference("toy", registered.version.version)
    assert reference.estimator["rows"] == len(valid)
    card = build_card(registered.version, workspace.tracking_uri)
    assert "each scored through a calibration fitted without its block" in card
    assert "| held back (for the estimate) |" not in card
    with pytest.raises(ConfigError, match=r"reserve_fraction must be a float in \[0, 1\)"):
        toy_train_spec(reserve_fraction=1.0)
