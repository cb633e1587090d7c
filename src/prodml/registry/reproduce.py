"""Reproduce a registered version: re-run its recorded recipe on its recorded snapshots,
with no cache and a throwaway tracking store, and compare the new model's predictions on
the validation rows with the registered model's, to the last bit.

When they differ, the report says what changed since the version was trained: the code
(git commit, uncommitted changes), the installed packages, the feature definitions.
"""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd

from prodml.clock import SimulatedClock
from prodml.errors import ConfigError
from prodml.registry.registry import ModelRegistry, ModelVersionInfo
from prodml.store.records import SnapshotRecord
from prodml.train.environment import environment_digest
from prodml.train.tabular import (
    RECIPE_CONFIG_TAG,
    RECIPE_TAG,
    STEP_KEY_TAG,
    Recipe,
    RecipeFunction,
    load_recipe,
    train,
)
from prodml.train.tracking import ENVIRONMENT_TAG, FEATURE_SERVICE_TAG, Tracker, git_tags

_SNAPSHOT_TAG = "prodml.snapshot."


@dataclass
class Reproduction:
    """How a re-run compares with the registered version."""

    ref: str
    identical: bool
    rows: int
    max_abs_difference: float
    same_step_key: bool  # same code, parameters, inputs and packages, by the cache key
    differences: dict[str, dict[str, str | None]] = field(default_factory=dict)
    seconds: float = 0.0


def reproduce(
    ref: str,
    registry: ModelRegistry,
    *,
    read_snapshot: Callable[[str], pd.DataFrame],
    snapshot_record: Callable[[str], SnapshotRecord],
    now: datetime,
    code_dir: Path | None = None,
) -> Reproduction:
    """Re-run the version `ref` from scratch and compare (see the module docstring)."""
    started = time.perf_counter()
    info, original = registry.load(ref)
    recipe_fn = _recipe(info)
    ids = snapshot_ids(info)
    # read_snapshot checks every byte against the snapshot's SHA-256: the data is the same.
    frames = {name: read_snapshot(sid) for name, sid in ids.items()}
    with tempfile.TemporaryDirectory(prefix="prodml-reproduce-") as tmp:
        work = Path(tmp)
        recipe: Recipe = recipe_fn(frames, work / "recipe")
        tracker = Tracker(
            f"sqlite:///{work / 'mlflow.db'}", str(work / "artifacts"), SimulatedClock(now)
        )
        result = train(
            recipe.spec,
            recipe.examples,
            inputs={name: snapshot_record(sid) for name, sid in ids.items()},
            feature_service=recipe.feature_service,
            cache_dir=work / "cache",
            tracker=tracker,
            champion=None,
            now=now,
        )
    # Every validation row, those held back for the estimate too: none was fitted on.
    outputs = result.pipeline.outputs
    held_back = outputs.get("reserve_rows")
    valid = outputs["valid_rows"]
    if held_back is not None and len(held_back):
        valid = pd.concat([valid, held_back], ignore_index=True)
    before = original.predict_frame(valid)
    after = result.models[result.best].predict_frame(valid)
    differences = _differences(info, registry, recipe, code_dir)
    return Reproduction(
        ref=info.ref,
        identical=bool(np.array_equal(before, after)),
        rows=len(valid),
        max_abs_difference=float(np.max(np.abs(before - after))) if len(valid) else 0.0,
        same_step_key=result.best_key == info.tags.get(STEP_KEY_TAG),
        differences=differences,
        seconds=time.perf_counter() - started,
    )


def snapshot_ids(info: ModelVersionInfo) -> dict[str, str]:
    """The snapshots a version was trained on, by the name its recipe reads them under."""
    return {
        k.removeprefix(_SNAPSHOT_TAG): v
        for k, v in info.tags.items()
        if k.startswith(_SNAPSHOT_TAG)
    }


def _recipe(info: ModelVersionInfo) -> RecipeFunction:
    path = info.tags.get(RECIPE_TAG)
    if not path:
        raise ConfigError(
            f"{info.ref} has no recorded recipe ({RECIPE_TAG} tag), so there is nothing to "
            "re-run: it was registered by hand or by another tool."
        )
    config = info.tags.get(RECIPE_CONFIG_TAG)
    return load_recipe(path, None if config is None else json.loads(config))


def _differences(
    info: ModelVersionInfo, registry: ModelRegistry, recipe: Recipe, code_dir: Path | None
) -> dict[str, dict[str, str | None]]:
    """What is not as it was when the version was trained."""
    run = registry.client.get_run(info.run_id) if info.run_id else None
    then = dict(run.data.tags) if run else {}
    now_git = git_tags(code_dir)
    pairs = {
        "git commit": (
            then.get("mlflow.source.git.commit"),
            now_git.get("mlflow.source.git.commit"),
        ),
        "uncommitted changes": (then.get("prodml.git_dirty"), now_git.get("prodml.git_dirty")),
        "installed packages": (then.get(ENVIRONMENT_TAG), environment_digest()),
        "feature service version": (
            info.tags.get(f"{FEATURE_SERVICE_TAG}_version"),
            recipe.feature_service[1] if recipe.feature_service else None,
        ),
    }
    return {k: {"then": a, "now": b} for k, (a, b) in pairs.items() if a != b}
