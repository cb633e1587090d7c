"""Train → gate → register → reference, as one call.

`prodml train`, the notebook front door, the demo and (next) the continuous-training
controller all run this one path, so a version never lacks its lineage, verdict, card or
drift reference whichever way it was made.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

    from prodml.registry import ModelVersionInfo
    from prodml.settings import TrainingSettings
    from prodml.store.records import SnapshotRecord
    from prodml.train.model import TrainedModel
    from prodml.train.pipeline import StepRecord
    from prodml.train.tabular import Recipe, TrainResult
    from prodml.workspace import Workspace


@dataclass
class Registered:
    """A registered version (with the alias its gate earned, if any), the verdict and the
    figures it rested on, and where its drift reference was kept; `result` is the training
    pipeline's, for a model prodml trained."""

    version: ModelVersionInfo
    reference: str
    gate: dict[str, Any]
    evaluations: dict[str, dict[str, Any]]
    result: TrainResult | None = None

    @property
    def passed(self) -> bool:
        return bool(self.gate["passed"])


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
    validation rows held back from everything, `TrainSpec.reserve_fraction`, calibrate
    the label-free performance estimate; its measured error goes into the card).

    `recorded_as` ("module:function", with its `config`) is the recipe `prodml models
    reproduce` will re-run; a version without one cannot be reproduced.
    """
    from prodml.registry.promotion import champion_of, register_result
    from prodml.registry.registry import PII_TAG
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
    valid = result.pipeline.outputs["valid_rows"]
    if spec.task == "classification":
        result.gate = judge_fairness(
            ws,
            result.gate,
            result.tags,
            valid,
            valid[spec.label],
            result.scores[result.best],
            champion=None
            if champion is None
            else (champion[0].ref, champion[1].predict_frame(valid)),
        )
    ws.audit.record(
        None,
        "training.run",
        spec.model_name,
        f"pipeline run {result.pipeline_run_id}: best {result.best}, gate "
        + ("passed" if result.gate["passed"] else "failed"),
        {
            "run": result.pipeline_run_id,
            "best": result.best,
            "metrics": result.evaluations[result.best]["metrics"],
            "steps_reused": len(result.pipeline.records) - len(result.pipeline.ran),
        },
    )
    result.tags[PII_TAG] = json.dumps(personal_columns(inputs.values()))
    if recorded_as:
        result.tags[RECIPE_TAG] = recorded_as
    if config is not None:
        result.tags[RECIPE_CONFIG_TAG] = json.dumps(config, default=str)
    version = register_result(
        result, spec.model_name, ws.registry, ws.tracker, first=champion is None
    )
    outputs = result.pipeline.outputs
    estimated = result.estimate_rows is not None  # classifiers
    reference = ws.save_reference(
        spec.model_name,
        version.version,
        outputs["train_rows"],
        spec.features.names,
        holdout=result.estimate_rows if estimated else outputs["valid_rows"],
        label=spec.label,
        sensitive=ws.settings.monitoring.sensitive,
        holdout_score=result.estimate_scores if estimated else result.scores[result.best],
    )
    source = CROSS_FITTED if result.estimate_cross_fitted else HELD_BACK
    version = _card_with_estimate(ws, version, result.run_ids[result.best], source)
    return Registered(version, reference, result.gate, result.evaluations, result)


def table_recipe(
    ws: Workspace, options: TrainingSettings, *, snapshot_id: str | None = None
) -> tuple[Recipe, dict[str, SnapshotRecord], dict[str, Any]]:
    """The recipe for training on a table with no Python (`options.data`, its newest
    snapshot unless `snapshot_id` pins one): its examples and spec, the snapshot it reads,
    and the decided `TableConfig` as a dict (recorded on the version, for reproduction)."""
    from prodml.errors import ConfigError
    from prodml.train import table

    name = options.data
    if not name:
        raise ConfigError("Name the table to train on: --data NAME (or training.data).")
    if not options.label:
        raise ConfigError(
            f"Which column of {name!r} should the model predict? Give --label COLUMN "
            "(or training.label in prodml.yaml)."
        )
    found = ws.metadata.get_snapshot(snapshot_id) if snapshot_id else ws.snapshot(name)
    frame = ws.read_snapshot(found.id)
    facts = found.lineage.get("columns", {})
    time_column = options.time or found.lineage.get("event_timestamp")
    config = table.plan(
        frame,
        {c: table.Column(f["type"], f.get("pii")) for c, f in facts.items()},
        data=name,
        label=options.label,
        keys=found.lineage.get("keys", ()),
        time_column=None if (time_column or "none").lower() == "none" else time_column,
        valid_from=options.valid_from,
        valid_fraction=options.valid_fraction,
        task=options.task,
        model_name=options.model,
        candidates=options.candidates,
        tune=options.tune,
        include=options.include,
        exclude=options.exclude,
        positive_class=options.positive,
        seed=options.seed,
    ).to_dict()
    sensitive = ws.settings.monitoring.sensitive
    made = table.recipe({name: frame}, ws.project_dir, config=config, carry=sensitive)
    return made, {name: found}, config


def register_fitted(
    ws: Workspace,
    model: Any,
    x: pd.DataFrame,
    y: Any = None,
    *,
    name: str,
    data: SnapshotRecord | None = None,
    training_rows: pd.DataFrame | None = None,
    intended_use: str = "",
    limitations: Sequence[str] = (),
    seed: int = 0,
) -> Registered:
    """Register `model`, fitted elsewhere, as a version of `name` (see `prodml.register`).

    With `y`, the truth of rows `x` it was not fitted on, it is judged as a trained model is:
    against the baselines and the champion, and the alias is earned the same way; without,
    it is registered with no alias. `data` is the snapshot it was fitted on (its lineage)
    and `training_rows` those rows, the drift reference (else `x` is)."""
    from prodml.registry.promotion import champion_of, register_version
    from prodml.registry.registry import PII_TAG
    from prodml.train import conformal
    from prodml.train.adopt import adopt, encode_target, judge
    from prodml.train.tabular import STEP_KEY_TAG

    adopted = adopt(model, x)
    now = ws.clock.now()
    champion = champion_of(ws.registry, name)
    target = None if y is None else encode_target(adopted, y, len(x))
    score = adopted.predict_frame(x)
    judged = None
    if target is None:
        report: dict[str, Any] = {
            "passed": False,
            "candidate": name,
            "decided_at": now.isoformat(),
            "reasons": ["not judged: no labels (y) were given with the rows"],
        }
        evaluations: dict[str, dict[str, Any]] = {}
    else:
        judged = judge(
            adopted,
            x,
            y,
            name=name,
            champion=None if champion is None else (champion[0].ref, champion[1]),
            now=now,
            seed=seed,
        )
        report, evaluations = judged.gate, judged.evaluations
        adopted.conformal = conformal.fit(score, target, adopted.task)
    # What identifies the model: its description and its scores of these rows (the saved
    # files carry write times), so registering it again finds the same version.
    digest = hashlib.sha256(json.dumps(adopted.describe(), sort_keys=True, default=str).encode())
    digest.update(np.ascontiguousarray(score).tobytes())
    key = digest.hexdigest()
    # The snapshot under its own name (its contract's), as a trained version records it.
    inputs = {} if data is None else {data.lineage.get("contract") or name: data}
    tags = {
        **{f"prodml.snapshot.{n}": s.id for n, s in inputs.items()},
        "prodml.flavor": adopted.flavor,
        PII_TAG: json.dumps(personal_columns(inputs.values())),
        "prodml.card": json.dumps(
            {
                "intended_use": intended_use,
                "limitations": list(limitations),
                "data": {"valid": {"rows": len(x)}} if y is not None else {},
                "split": "the rows given to prodml.register, held out by the caller",
                "gate_metric": judged.metric if judged else None,
                "task": adopted.task,
            }
        ),
    }
    if target is not None and adopted.task == "classification":
        report = judge_fairness(
            ws,
            report,
            tags,
            x,
            target,
            score,
            champion=None if champion is None else (champion[0].ref, champion[1].predict_frame(x)),
        )
    run_id = ws.tracker.find_run(STEP_KEY_TAG, key) or _track(
        ws, name, adopted, evaluations, inputs, tags, key
    )
    version = register_version(
        name,
        run_id,
        report,
        key=key,
        tags=tags,
        registry=ws.registry,
        tracker=ws.tracker,
        first=champion is None,
    )
    reference = ws.save_reference(
        name,
        version.version,
        x if training_rows is None else training_rows,
        adopted.spec.names,
        holdout=None if target is None else x.assign(**{_LABEL: target}),
        label=_LABEL,
        sensitive=[s for s in ws.settings.monitoring.sensitive if s in x.columns],
        holdout_score=score,
    )
    version = _card_with_estimate(ws, version, run_id, GIVEN)
    return Registered(version, reference, report, evaluations)


def personal_columns(snapshots: Iterable[SnapshotRecord]) -> list[str]:
    """The columns the contracts of `snapshots` tag `pii`: never logged in clear."""
    return sorted(
        {
            name
            for snapshot in snapshots
            for name, facts in snapshot.lineage.get("columns", {}).items()
            if facts.get("pii")
        }
    )


def judge_fairness(
    ws: Workspace,
    gate: dict[str, Any],
    tags: dict[str, str],
    rows: pd.DataFrame,
    y_true: Any,
    scores: Any,
    *,
    champion: tuple[str, Any] | None,
) -> dict[str, Any]:
    """The gate's verdict with the fairness check of `monitoring.sensitive` added (see
    `train.fairness`): a blocked candidate fails the gate, with the reasons; the whole
    report goes into `tags` (`prodml.fairness`), for the card and `prodml models allow`."""
    from prodml.registry.registry import FAIRNESS_TAG
    from prodml.train.fairness import FairnessRules, check_fairness

    sensitive = ws.settings.monitoring.sensitive
    if not sensitive:
        return gate
    rules = FairnessRules(**ws.settings.governance.fairness.model_dump())
    report = check_fairness(
        rows, y_true, scores, sensitive=sensitive, rules=rules, champion=champion
    )
    tags[FAIRNESS_TAG] = json.dumps(report)
    return {
        **gate,
        "passed": bool(gate["passed"]) and report["passed"],
        "fairness_passed": report["passed"],
        "reasons": [*gate.get("reasons", []), *report["reasons"]],
    }


# What the label-free estimate was calibrated on, in the card's words.
HELD_BACK = "validation rows held back from evaluation, model choice and calibration"
CROSS_FITTED = (
    "validation rows, each scored through a calibration fitted without its block (too "
    "few to hold any back; the model was chosen on them, so the estimate may run high)"
)
GIVEN = "rows given to prodml.register, which the model was not fitted on"


def _card_with_estimate(
    ws: Workspace, version: ModelVersionInfo, run_id: str, source: str
) -> ModelVersionInfo:
    """Tag the version with its label-free estimate's measured error (and what it was
    calibrated on), and write its card again: the card was written at registration,
    before the reference (which loads the registered model) could measure it."""
    from prodml.registry.card import ESTIMATE_TAG
    from prodml.registry.promotion import log_card

    estimator = ws.reference(version.name, version.version).estimator or {}
    if "error" not in estimator:
        return version
    tag = json.dumps({**estimator["error"], "source": source})
    ws.registry.set_tags(version.name, version.version, {ESTIMATE_TAG: tag})
    info = ws.registry.resolve(version.ref)
    log_card(info, ws.tracker, run_id)
    return info


_LABEL = "__prodml_label"


def _track(
    ws: Workspace,
    name: str,
    model: TrainedModel,
    evaluations: dict[str, dict[str, Any]],
    inputs: Mapping[str, SnapshotRecord],
    tags: dict[str, str],
    key: str,
) -> str:
    """One MLflow run for the registered model: its parameters, its figures on the given
    rows (and the baselines'), the model folder; found again by `key` next time."""
    from prodml.train.tabular import STEP_KEY_TAG

    with ws.tracker.run(f"register-{name}", tags={**tags, STEP_KEY_TAG: key}) as run_id:
        ws.tracker.log_inputs(run_id, inputs)
        own = evaluations.get(name, {}).get("metrics", {})
        ws.tracker.log(
            run_id,
            params={"flavor": model.flavor, **model.params},
            metrics={
                **own,
                **{
                    f"{baseline}.{metric}": value
                    for baseline, figures in evaluations.items()
                    if baseline != name
                    for metric, value in figures["metrics"].items()
                },
            },
        )
        ws.tracker.log_json(
            run_id,
            "evaluation.json",
            {
                **evaluations.get(name, {}),
                "baselines": {b: e for b, e in evaluations.items() if b != name},
                "params": model.params,
                "features": {
                    "categorical": list(model.spec.categorical),
                    "numeric": list(model.spec.numeric),
                },
            },
        )
        with tempfile.TemporaryDirectory() as tmp:
            model.save(Path(tmp))
            ws.tracker.log_folder(run_id, Path(tmp), "model")
    return run_id
