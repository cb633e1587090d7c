"""Registering a trained, gated model: a version with its lineage, gate report and model
card, and the alias the gate earned. Re-registering the same fit finds its version again."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from prodml.errors import NotFoundError
from prodml.registry.card import write_card
from prodml.registry.registry import ModelRegistry, ModelVersionInfo
from prodml.train.model import TrainedModel
from prodml.train.tabular import STEP_KEY_TAG, TrainResult
from prodml.train.tracking import Tracker


def champion_of(registry: ModelRegistry, name: str) -> tuple[ModelVersionInfo, TrainedModel] | None:
    """The current champion of `name` and its model, or None before the first one."""
    try:
        return registry.load(f"{name}@champion")
    except NotFoundError:
        return None


def register_result(
    result: TrainResult, name: str, registry: ModelRegistry, tracker: Tracker, *, first: bool
) -> ModelVersionInfo:
    """The best candidate of a training as a version of `name` (see `register_version`)."""
    return register_version(
        name,
        result.run_ids[result.best],
        result.gate,
        key=result.best_key,
        tags=result.tags,
        registry=registry,
        tracker=tracker,
        first=first,
    )


def register_version(
    name: str,
    run_id: str,
    report: Mapping[str, Any],
    *,
    key: str,
    tags: Mapping[str, str],
    registry: ModelRegistry,
    tracker: Tracker,
    first: bool,
) -> ModelVersionInfo:
    """The model logged by `run_id` as a version of `name` (the existing one if the model
    identified by `key` was registered before), tagged with its gate `report`;
    `challenger` if it passed, or `champion` when it is the `first` model of that name to
    pass; no alias if it failed."""
    verdict = {
        "prodml.gate": json.dumps(report)[:5000],
        "prodml.gate.passed": str(report["passed"]).lower(),
    }
    version = registry.find_version(name, STEP_KEY_TAG, key)
    if version is None:
        # One call with every tag: a version never exists without its lineage and verdict.
        version = registry.register(name, run_id, tags={**tags, STEP_KEY_TAG: key, **verdict})
    else:  # judged again (e.g. against a newer champion): the latest verdict
        registry.set_tags(name, version.version, verdict)
    # If what follows fails, running again finds this version by its step key and goes on.
    if report["passed"] and "champion" not in version.aliases:  # retraining the champion
        registry.set_alias(name, "champion" if first else "challenger", version.version)
    version = registry.resolve(f"{name}/{version.version}")
    log_card(version, tracker, run_id)
    return version


def log_card(version: ModelVersionInfo, tracker: Tracker, run_id: str) -> None:
    """Write `version`'s card beside the model in its run (`card/`), replacing any before."""
    with tempfile.TemporaryDirectory() as tmp:
        write_card(version, tracker.tracking_uri, Path(tmp))
        tracker.log_folder(run_id, Path(tmp), "card")
