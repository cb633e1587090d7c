"""Registering a trained, gated model: a version with its lineage, gate report and model
card, and the alias the gate earned. Re-registering the same fit finds its version again.
An approver may except a version the fairness check blocked (`allow`)."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from prodml.errors import ConfigError, NotFoundError, StateError
from prodml.registry.card import write_card
from prodml.registry.registry import EXCEPTION_TAG, FAIRNESS_TAG, ModelRegistry, ModelVersionInfo
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


def allow(
    ref: str,
    *,
    reason: str,
    actor: str,
    now: datetime,
    registry: ModelRegistry,
    tracker: Tracker,
) -> ModelVersionInfo:
    """An approver's exception to the fairness check for the version `ref` names: recorded
    on the version (and so in its card) and in the audit log, and the version becomes
    `challenger`, as if it had passed. Only a version that failed on fairness alone."""
    if not reason.strip():
        raise ConfigError("Say why the exception is granted (--reason); it is recorded.")
    info = registry.resolve(ref)
    gate = json.loads(info.tags.get("prodml.gate", "{}"))
    report = json.loads(info.tags.get(FAIRNESS_TAG, "{}"))
    if not report or report.get("passed"):
        raise StateError(
            f"{info.ref} was not blocked by the fairness check: there is nothing to except."
        )
    others = [c["against"] for c in gate.get("comparisons", []) if not c["passed"]]
    if others:
        raise StateError(
            f"{info.ref} also failed the gate against {', '.join(others)}; an exception covers "
            "fairness only. Train a better candidate."
        )
    granted = {"by": actor, "at": now.isoformat(), "reason": reason}
    registry.set_tags(info.name, info.version, {EXCEPTION_TAG: json.dumps(granted)})
    if registry.audit is not None:
        registry.audit.record(
            actor,
            "fairness.exception",
            info.ref,
            reason,
            {"reasons": report["reasons"]},
        )
    if "champion" not in info.aliases:
        registry.promote(
            info.ref, "challenger", now=now, actor=actor, reason="fairness exception granted"
        )
    info = registry.resolve(f"{info.name}/{info.version}")
    if info.run_id:
        log_card(info, tracker, info.run_id)
    return info
