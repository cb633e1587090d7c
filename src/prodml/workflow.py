"""Train → gate → register → reference, as one call.

`prodml train`, the notebook front door, the demo and (next) the continuous-training
controller all run this one path, so a version never lacks its lineage, verdict, card or
drift reference whichever way it was made.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from prodml.registry import ModelVersionInfo
    from prodml.store.records import SnapshotRecord
    from prodml.train.pipeline import StepRecord
    from prodml.train.tabular import Recipe, TrainResult
    from prodml.workspace import Workspace


@dataclass
class Registered:
    """What one training produced: the pipeline's result, the version it registered (with
    the alias its gate earned, if any) and where its drift reference was kept."""

    result: TrainResult
    version: ModelVersionInfo
    reference: str

    @property
    def passed(self) -> bool:
        return bool(self.result.gate["passed"])


def train_and_register(
    ws: Workspace,
    recipe: Recipe,
    *,
    inputs: Mapping[str, SnapshotRecord],
    recorded_as: str | None = None,
    config: Mapping[str, Any] | None = None,
    on_step: Callable[[StepRecord], None] | None = None,
) -> Registered:
    """Train `recipe` (built from the `inputs` snapshots) in the pipeline's cache, gate the
    best candidate against the baselines and the current champion, register it with its
    verdict and card, and build its drift reference from the rows it learned from (the
    validation rows, never fitted on, calibrate the label-free performance estimate).

    `recorded_as` ("module:function", with its `config`) is the recipe `prodml models
    reproduce` will re-run; a version without one cannot be reproduced.
    """
    from prodml.registry.promotion import champion_of, register_result
    from prodml.train.tabular import RECIPE_CONFIG_TAG, RECIPE_TAG, train

    spec = recipe.spec
    champion = champion_of(ws.registry, spec.model_name)
    result = train(
        spec,
        recipe.examples,
        inputs=inputs,
        feature_service=recipe.feature_service,
        cache_dir=ws.state_dir / "cache" / "steps",
        tracker=ws.tracker,
        champion=None if champion is None else (champion[0].ref, champion[1]),
        now=ws.clock.now(),
        on_step=on_step,
    )
    if recorded_as:
        result.tags[RECIPE_TAG] = recorded_as
    if config is not None:
        result.tags[RECIPE_CONFIG_TAG] = json.dumps(config, default=str)
    version = register_result(
        result, spec.model_name, ws.registry, ws.tracker, first=champion is None
    )
    outputs = result.pipeline.outputs
    reference = ws.save_reference(
        spec.model_name,
        version.version,
        outputs["train_rows"],
        spec.features.names,
        holdout=outputs["valid_rows"],
        label=spec.label,
        sensitive=ws.settings.monitoring.sensitive,
    )
    return Registered(result, version, reference)
