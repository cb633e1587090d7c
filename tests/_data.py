"""Test data generated in code (no test downloads anything)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from prodml.train import FeatureSpec, TrainedModel
from prodml.workspace import Workspace

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
