"""The standard pipeline end to end on generated data: tracked, gated, registered, and a
second run with nothing changed reuses every step and adds nothing to MLflow."""

from datetime import UTC, datetime

import mlflow
import numpy as np
import pandas as pd
import pytest

from prodml.errors import TrainingError
from prodml.store.records import SnapshotRecord
from prodml.train.tabular import Candidate, TrainSpec, train
from tests._data import TOY_SPEC, toy_frame

START = datetime(2024, 1, 1, tzinfo=UTC)


def _examples(n=4000, seed=0):
    """The toy columns with a label a linear model cannot fit: a tree must beat it."""
    rng = np.random.default_rng(seed)
    frame = toy_frame(rng, n)
    logit = 3.0 * (frame["size"].abs() > 1) + (frame["color"] == "red") - 1.5
    frame["y"] = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    frame["at"] = pd.Timestamp(START) + pd.to_timedelta(np.arange(n), unit="h")
    return frame


def _spec(**changes):
    base = {
        "model_name": "toy",
        "label": "y",
        "features": TOY_SPEC,
        "time_column": "at",
        "valid_from": datetime(2024, 4, 1, tzinfo=UTC),
        "candidates": (Candidate("lightgbm", "lightgbm", {"num_boost_round": 30}),),
        "slices": ("color",),
        "min_slice_rows": 100,
        "cost_false_negative": 5.0,
        "cost_false_positive": 1.0,
    }
    return TrainSpec(**{**base, **changes})


def _run(ws, spec, examples):
    snap = SnapshotRecord("cd" * 32, "toy.parquet", START, len(examples), 5, "file:///toy.parquet")
    return train(
        spec,
        examples,
        inputs={"toy": snap},
        feature_service=None,
        cache_dir=ws.state_dir / "cache" / "steps",
        tracker=ws.tracker,
        registry=ws.registry,
        now=ws.clock.now(),
    )


def test_train_tracks_gates_and_registers_then_reuses_everything(workspace):
    examples = _examples()
    first = _run(workspace, _spec(), examples)
    assert first.pipeline.ran[:2] == ["train_rows", "valid_rows"]
    assert first.best == "lightgbm"
    assert first.gate["passed"], first.gate["reasons"]
    assert first.version.aliases == ("champion",)  # the first model to pass
    lgbm = first.evaluations["lightgbm"]
    assert lgbm["metrics"]["roc_auc"] > first.evaluations["logistic"]["metrics"]["roc_auc"] + 0.05
    assert {s["value"] for s in lgbm["slices"]} == {"red", "green", "blue"}
    assert lgbm["best_threshold"]["threshold"] < 0.5  # a missed positive costs 5× a false alarm

    client = mlflow.MlflowClient(workspace.tracking_uri)
    child = client.get_run(first.run_ids["lightgbm"])
    assert child.data.tags["mlflow.parentRunId"]
    assert child.data.params["flavor"] == "lightgbm"
    assert "evaluation.json" in {a.path for a in client.list_artifacts(child.info.run_id)}
    version = client.get_model_version("toy", first.version.version)
    assert version.tags["prodml.gate.passed"] == "true"
    assert version.tags["prodml.snapshot.toy"] == "cd" * 32

    again = _run(workspace, _spec(), examples)
    assert again.pipeline.ran == []
    assert again.run_ids == first.run_ids  # no duplicate runs for reused models
    assert again.version.version == first.version.version  # no new version either
    # Judged against the champion it already is: it stays champion, not also challenger.
    assert again.gate["comparisons"][-1]["role"] == "champion"
    assert again.version.aliases == ("champion",)


def test_a_changed_split_reruns_only_what_it_feeds(workspace):
    examples = _examples()
    _run(workspace, _spec(), examples)
    later = _run(workspace, _spec(valid_from=datetime(2024, 4, 15, tzinfo=UTC)), examples)
    assert "train_rows" in later.pipeline.ran
    assert len(later.pipeline.ran) == len(later.pipeline.records)  # every model saw new rows


def test_bad_training_data_is_explained(workspace):
    examples = _examples()
    with pytest.raises(TrainingError, match=r"No rows with 2030-01-01.*Move the split dates"):
        _run(workspace, _spec(valid_from=datetime(2030, 1, 1, tzinfo=UTC)), examples)
    with pytest.raises(TrainingError, match="has 1 distinct value"):
        _run(workspace, _spec(), examples.assign(y=0))
    with pytest.raises(TrainingError, match="label column 'label' is not in the training data"):
        _run(workspace, _spec(label="label"), examples)
