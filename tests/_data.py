"""Test data generated in code (no test downloads anything)."""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from prodml.train import FeatureSpec, TrainedModel
from prodml.workspace import Workspace

if TYPE_CHECKING:
    from prodml.train.tabular import Recipe, TrainResult, TrainSpec

TOY_SPEC = FeatureSpec(categorical=("color",), numeric=("size", "noise"))


def toy_frame(rng: np.random.Generator, n: int = 4000) -> pd.DataFrame:
    """A small classification problem with a signal in one numeric and one categorical."""
    frame = pd.DataFrame(
        {
            "color": rng.choice(["red", "green", "blue"], n),
            "size": rng.normal(size=n),
            "noise": rng.normal(size=n),
        }
    )
    logit = 1.5 * frame["size"] + (frame["color"] == "red") * 1.0 - 0.5
    frame["y"] = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    frame.loc[frame.index % 17 == 0, "noise"] = np.nan
    return frame


def log_model_run(ws: Workspace, model: TrainedModel) -> str:
    """A finished MLflow run in `ws` holding `model`, as training would leave it."""
    with ws.tracker.run("candidate", tags={"prodml.snapshot.toy": "abc"}) as run_id:
        ws.tracker.log(run_id, params={"rounds": 20}, metrics={"roc_auc": 0.8, "nan": float("nan")})
        with tempfile.TemporaryDirectory() as tmp:
            model.save(Path(tmp))
            ws.tracker.log_folder(run_id, Path(tmp), "model")
    return run_id


def nonlinear_examples(n: int = 4000, seed: int = 0) -> pd.DataFrame:
    """The toy columns, hourly from 2024-01-01 UTC in `at`, with a label a linear model
    cannot fit (so a tree must beat the logistic baseline)."""
    rng = np.random.default_rng(seed)
    frame = toy_frame(rng, n)
    logit = 3.0 * (frame["size"].abs() > 1) + (frame["color"] == "red") - 1.5
    frame["y"] = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    frame["at"] = pd.Timestamp("2024-01-01", tz="UTC") + pd.to_timedelta(np.arange(n), unit="h")
    return frame


def toy_train_spec(**changes: Any) -> TrainSpec:
    """A small TrainSpec over `nonlinear_examples`: validation from April 2024."""
    from prodml.train.tabular import Candidate, TrainSpec

    base: dict[str, Any] = {
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
        "intended_use": "Ranking toy rows for review.",
        "limitations": ("Trained on generated data.",),
    }
    return TrainSpec(**{**base, **changes})


def toy_train(ws: Workspace, spec: TrainSpec, examples: pd.DataFrame) -> TrainResult:
    """`train()` as a workspace would call it, against the current champion of `toy`."""
    from prodml.registry.promotion import champion_of
    from prodml.store.records import SnapshotRecord
    from prodml.train.tabular import train

    start = datetime(2024, 1, 1, tzinfo=UTC)
    snap = SnapshotRecord("cd" * 32, "toy.parquet", start, len(examples), 5, "file:///toy.parquet")
    champion = champion_of(ws.registry, spec.model_name)
    return train(
        spec,
        examples,
        inputs={"toy": snap},
        feature_service=None,
        cache_dir=ws.state_dir / "cache" / "steps",
        tracker=ws.tracker,
        champion=None if champion is None else (champion[0].ref, champion[1]),
        now=ws.clock.now(),
    )


def toy_recipe(snapshots: dict[str, pd.DataFrame], workdir: Path) -> Recipe:
    """The recipe `toy_train` models are recorded with: the toy snapshot as it is."""
    from prodml.train.tabular import Recipe

    return Recipe(snapshots["toy"], toy_train_spec())


toy_recipe.inputs = ("toy",)  # type: ignore[attr-defined]


def requests_by_hour(rng: np.random.Generator, requests: int, size: int, arm: str) -> pd.DataFrame:
    """Labelled rows of one model in `requests` requests of `size` rows, each from an hour
    whose outcomes and scores run high or low together, as a canary's requests of flights
    do (so its rows are clustered, not independent)."""
    from prodml.monitor.labels import LABEL

    hour = np.repeat(rng.normal(scale=1.5, size=requests), size)
    signal = hour + 0.7 * rng.normal(size=hour.size) - 1.5
    score = 1 / (1 + np.exp(-(signal + rng.normal(scale=0.5, size=hour.size))))
    return pd.DataFrame(
        {
            "request_id": np.repeat([f"{arm}-{i}" for i in range(requests)], size),
            "prediction": score,
            "predicted_label": (score >= 0.5).astype(float),
            LABEL: (rng.random(hour.size) < 1 / (1 + np.exp(-signal))).astype(float),
        }
    )
