"""The standard pipeline for a tabular classifier, as declared, cached steps:

    examples ─▶ train_rows, valid_rows (split by time, never shuffled across it), and
                reserve_rows (classifiers with enough validation rows: a seeded third of
                them held back from everything below, for monitoring's label-free estimate)
             ─▶ fit_<model> for the baselines (majority, logistic) and each candidate
             ─▶ evaluate_<model> (metrics, slices with intervals, calibration, best cost)
             ─▶ calibrate_<candidate> (classification), conformal_<candidate> (uncertainty)
             ─▶ gate (the best candidate against every baseline and the champion)

`train()` runs it, records each model in MLflow (a run per model under the pipeline run,
reused when its step was), and gates the best candidate; `registry.promotion` then
registers it with its verdict.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
import json
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from prodml.errors import ConfigError, TrainingError
from prodml.store.records import SnapshotRecord
from prodml.train import calibration, conformal
from prodml.train.encoding import FeatureSpec
from prodml.train.evaluate import (
    best_threshold,
    calibration_table,
    classification_metrics,
    metric,
    regression_metrics,
)
from prodml.train.flavors import BASELINES, get_flavor
from prodml.train.gate import gate
from prodml.train.model import CLASSIFICATION, REGRESSION, TrainedModel, fit_model
from prodml.train.pipeline import Pipeline, PipelineResult, Step, StepRecord
from prodml.train.plots import save_plots
from prodml.train.slices import slice_metrics
from prodml.train.tracking import FEATURE_SERVICE_TAG, Tracker
from prodml.train.tuning import tune

STEP_KEY_TAG = "prodml.step_key"  # the fit step a run or version came from
SCORE = "score"  # the column of a score_<model> step's output


@dataclass(frozen=True)
class Candidate:
    """A model to try: a flavor, fixed parameters, and an optional Optuna budget."""

    name: str
    flavor: str
    params: Mapping[str, Any] = field(default_factory=dict)
    n_trials: int = 0  # > 0: tune first (see train/tuning.py)
    timeout_seconds: float | None = None  # an upper bound on tuning time, besides n_trials


@dataclass(frozen=True)
class TrainSpec:
    """What to train and how to judge it."""

    model_name: str
    label: str
    features: FeatureSpec
    time_column: str | None  # None: no time order, a seeded random split instead
    valid_from: datetime | None = None  # rows from here on are held out for validation
    valid_until: datetime | None = None  # ... up to here (later rows are not used at all)
    valid_fraction: float = 0.2  # with no time column: the share held out (stratified)
    # Classifiers: the share of the validation rows (seeded, stratified on the label) held
    # back from evaluation, model choice, the gate, calibration and the conformal
    # quantiles. Rows the model never used in any way are what monitoring's label-free
    # estimate is calibrated and checked on: a map fitted on the rows that chose and
    # calibrated the model finds it better than it is. When that share would be fewer
    # than `min_reserve_rows` (or is 0), none is held back: the gate needs every row more,
    # and the estimate is calibrated on the validation rows, each scored through a
    # calibration fitted without its block (as the conformal quantiles are).
    reserve_fraction: float = 1 / 3
    min_reserve_rows: int = 1_000
    candidates: tuple[Candidate, ...] = (Candidate("lightgbm", "lightgbm"),)
    slices: tuple[str, ...] = ()
    min_slice_rows: int = 200
    cost_false_negative: float = 1.0
    cost_false_positive: float = 1.0
    gate_metric: str | None = None  # default: roc_auc (classification), rmse (regression)
    gate_margin: float = 0.01
    # Baselines are fitted on at most this many training rows (a seeded sample): a linear
    # model's hundred-odd coefficients have settled long before, and at a million rows its
    # fit would cost a fifth of the candidate's. Candidates always get every row.
    baseline_rows: int = 200_000
    task: str = CLASSIFICATION  # or REGRESSION
    seed: int = 0
    intended_use: str = ""  # for the model card: who uses its predictions, for what
    limitations: tuple[str, ...] = ()  # for the model card: what it must not be used for

    def __post_init__(self) -> None:
        if self.time_column is not None and self.valid_from is None:
            raise ConfigError(
                f"TrainSpec for {self.model_name!r}: a time split needs valid_from, the time "
                "validation starts; or set time_column=None for a seeded random split."
            )
        if not 0.0 < self.valid_fraction < 1.0:
            raise ConfigError(
                f"TrainSpec's valid_fraction must be a float in (0, 1). Got "
                f"{self.valid_fraction} instead."
            )
        if not 0.0 <= self.reserve_fraction < 1.0:
            raise ConfigError(
                f"TrainSpec's reserve_fraction must be a float in [0, 1); 0 holds no "
                f"validation rows back. Got {self.reserve_fraction} instead."
            )

    @property
    def reserves(self) -> bool:
        """Whether monitoring's label-free estimate is prepared: classifiers only (the
        `reserve_rows` step then holds validation rows back if there are enough)."""
        return self.task == CLASSIFICATION

    @property
    def split(self) -> str:
        """How validation rows are chosen, in words (for the output and the card)."""
        if self.time_column is None:
            kind = "stratified " if self.task == CLASSIFICATION else ""
            return (
                f"seeded {kind}random split (seed {self.seed}): "
                f"{self.valid_fraction:.0%} of the rows held out"
            )
        until = f" until {self.valid_until:%Y-%m-%d}" if self.valid_until else ""
        assert self.valid_from is not None
        return f"by time: {self.time_column} from {self.valid_from:%Y-%m-%d}{until} held out"

    @property
    def baselines(self) -> tuple[str, ...]:
        return BASELINES[self.task]

    @property
    def judged_by(self) -> str:
        """The metric that picks the best candidate and that the gate compares."""
        return self.gate_metric or ("roc_auc" if self.task == CLASSIFICATION else "rmse")

    @property
    def models(self) -> tuple[Candidate, ...]:
        return (*(Candidate(b, b) for b in self.baselines), *self.candidates)


@dataclass(frozen=True)
class Recipe:
    """What a project's recipe function returns from its snapshots: the examples, how to
    train on them, and the feature service (name, version) that built them. Its import path
    is recorded on the version, so `reproduce` can run it again."""

    examples: pd.DataFrame
    spec: TrainSpec
    feature_service: tuple[str, str] | None = None


RECIPE_TAG = "prodml.recipe"  # "module:function" that rebuilds a version's training data
RECIPE_CONFIG_TAG = "prodml.recipe_config"  # its `config` argument as JSON, if it takes one
RecipeFunction = Callable[[dict[str, pd.DataFrame], Path], Recipe]


def load_recipe(path: str, config: Mapping[str, Any] | None = None) -> RecipeFunction:
    """The recipe function at `path` ("module:function"). It takes the snapshots it names in
    its `inputs` attribute (name -> DataFrame) and a work folder, and returns a `Recipe`; a
    recipe configured by data (`prodml train --data`) also takes its `config`."""
    module, _, name = path.partition(":")
    try:
        found = getattr(importlib.import_module(module), name) if name else None
    except (ImportError, AttributeError) as exc:
        raise ConfigError(
            f"Cannot import the recipe {path} ({exc}); install or check out the code it is in."
        ) from exc
    if not callable(found):
        raise ConfigError(f"Recipe {path!r} must name a function as module:function.")
    return found if config is None else functools.partial(found, config=config)


@dataclass
class TrainResult:
    pipeline: PipelineResult
    models: dict[str, TrainedModel]  # as they would be served (candidates calibrated if it helped)
    evaluations: dict[str, dict[str, Any]]
    run_ids: dict[str, str]  # model name -> its MLflow run
    pipeline_run_id: str  # this training's pipeline run (its models' runs may be older)
    best: str
    best_key: str  # the cache key of the best model's fit: what identifies it
    gate: dict[str, Any]
    tags: dict[str, str]  # lineage and model-card facts for the registered version
    scores: dict[str, np.ndarray]  # each model's validation scores, as it would serve them
    # Classifiers: the labelled rows (time order) the drift reference calibrates the
    # label-free estimate on, and the best model's served scores of them: the held-back
    # rows, or (`estimate_cross_fitted`: too few to hold any back) the validation rows,
    # each scored through a calibration fitted without its block.
    estimate_rows: pd.DataFrame | None = None
    estimate_scores: np.ndarray | None = None
    estimate_cross_fitted: bool = False


def steps(spec: TrainSpec) -> list[Step]:
    """The pipeline's steps for `spec`, in order."""
    time = {"time_column": spec.time_column}
    common = {"label": spec.label, "seed": spec.seed, "task": spec.task}
    out = [_split_step("train", spec), _split_step("valid", spec)]
    if spec.reserves:
        out.append(_split_step("reserve", spec))
    for model in spec.models:
        fit_inputs = {"train_rows": "train_rows"}
        if model.n_trials > 0:
            out.append(
                Step(
                    f"tune_{model.name}",
                    _tune,
                    inputs={"train_rows": "train_rows"},
                    params={
                        **common,
                        **time,
                        "flavor": model.flavor,
                        "params": dict(model.params),
                        "features": asdict(spec.features),
                        "n_trials": model.n_trials,
                        "timeout_seconds": model.timeout_seconds,
                    },
                )
            )
            fit_inputs["tuned"] = f"tune_{model.name}"
        out.append(
            Step(
                f"fit_{model.name}",
                fit,
                inputs=fit_inputs,
                params={
                    **common,
                    **time,
                    "flavor": model.flavor,
                    "params": dict(model.params),
                    "features": asdict(spec.features),
                    "max_rows": spec.baseline_rows if model.name in spec.baselines else None,
                },
            )
        )
        scored = {"valid_rows": "valid_rows", "scores": f"score_{model.name}"}
        out.append(
            Step(
                f"score_{model.name}",
                _score,
                inputs={"model": f"fit_{model.name}", "valid_rows": "valid_rows"},
            )
        )
        out.append(
            Step(
                f"evaluate_{model.name}",
                _evaluate,
                inputs={"model": f"fit_{model.name}", **scored},
                params={
                    **common,
                    "slices": list(spec.slices),
                    "min_slice_rows": spec.min_slice_rows,
                    "costs": [spec.cost_false_negative, spec.cost_false_positive],
                },
            )
        )
    ordered = {"label": spec.label, "time_column": spec.time_column}
    for model in spec.candidates:
        served = {"valid_rows": "valid_rows", "scores": f"score_{model.name}"}
        if spec.task == CLASSIFICATION:
            out.append(Step(f"calibrate_{model.name}", _calibrate, inputs=served, params=ordered))
            served = {**served, "calibrated": f"calibrate_{model.name}"}
        out.append(
            Step(
                f"conformal_{model.name}",
                _conformal,
                inputs=served,
                params={**ordered, "task": spec.task},
            )
        )
    return out


def train(
    spec: TrainSpec,
    examples: pd.DataFrame,
    *,
    inputs: Mapping[str, SnapshotRecord],
    feature_service: tuple[str, str] | None,
    cache_dir: Path,
    tracker: Tracker,
    champion: tuple[str, TrainedModel] | None,
    now: datetime,
    on_step: Callable[[StepRecord], None] | None = None,
) -> TrainResult:
    """Run the pipeline on `examples` (read from the `inputs` snapshots, built with the
    feature service (name, version)), track every model, and gate the best against the
    baselines and `champion` (its name and model), if there is one."""
    _check_label(examples, spec.label, spec.task)
    digest = "|".join(f"{n}={s.id}" for n, s in sorted(inputs.items()))
    digest += f"|features={feature_service[1] if feature_service else '-'}"
    result = Pipeline(steps(spec), cache_dir=cache_dir).run(
        {"examples": (examples, digest)}, on_step=on_step
    )
    keys = {r.name: r.key for r in result.records}
    evaluations = {m.name: result.outputs[f"evaluate_{m.name}"] for m in spec.models}
    # What would be served: each candidate with its calibration, when it helped.
    models: dict[str, TrainedModel] = {m.name: result.outputs[f"fit_{m.name}"] for m in spec.models}
    for candidate in spec.candidates:
        decision = result.outputs.get(f"calibrate_{candidate.name}")
        tuning = result.outputs.get(f"tune_{candidate.name}")
        evaluations[candidate.name] = {
            **evaluations[candidate.name],
            "calibration_decision": decision,
            "conformal": result.outputs[f"conformal_{candidate.name}"],
            **({"tuning": tuning} if tuning else {}),
        }
        models[candidate.name] = dataclasses.replace(
            models[candidate.name],
            calibration=decision["map"] if decision else None,
            conformal=result.outputs[f"conformal_{candidate.name}"],
        )
    lineage = {f"prodml.snapshot.{n}": s.id for n, s in inputs.items()}
    if feature_service:
        lineage |= {
            FEATURE_SERVICE_TAG: feature_service[0],
            f"{FEATURE_SERVICE_TAG}_version": feature_service[1],
        }
    valid = result.outputs["valid_rows"]
    scores = {  # as served: each model's validation scores, through its calibration
        name: calibration.apply(
            model.calibration, result.outputs[f"score_{name}"][SCORE].to_numpy()
        )
        for name, model in models.items()
    }
    run_ids = _track(spec, models, scores, result, evaluations, keys, inputs, lineage, tracker)
    pipeline_run = run_ids.pop("")
    _, higher_is_better = metric(spec.judged_by)
    best = max(
        (m.name for m in spec.candidates),
        key=lambda n: evaluations[n]["metrics"][spec.judged_by] * (1 if higher_is_better else -1),
    )
    y = valid[spec.label].to_numpy()
    report = gate(
        y,
        (best, scores[best]),
        baselines={b: scores[b] for b in spec.baselines},
        champion=None if champion is None else (champion[0], champion[1].predict_frame(valid)),
        metric_name=spec.judged_by,
        margin=spec.gate_margin,
        now=now,
        seed=spec.seed,
    ).to_dict()
    flavor = next(m.flavor for m in spec.models if m.name == best)
    lineage["prodml.flavor"] = flavor
    lineage["prodml.card"] = json.dumps(
        {
            "intended_use": spec.intended_use,
            "limitations": list(spec.limitations),
            "data": {
                part: _span(result.outputs[f"{part}_rows"], spec.time_column)
                for part in ("train", "valid", "reserve")
                if len(result.outputs.get(f"{part}_rows", ()))
            },
            "split": spec.split,
            "gate_metric": spec.judged_by,
            "task": spec.task,
            "costs": {
                "false_negative": spec.cost_false_negative,
                "false_positive": spec.cost_false_positive,
            },
        }
    )
    held_out = _estimate_rows(spec, result, best, models[best]) if spec.reserves else None
    return TrainResult(
        result,
        models,
        evaluations,
        run_ids,
        pipeline_run,
        best,
        keys[f"fit_{best}"],
        report,
        lineage,
        scores,
        *(held_out or (None, None, False)),
    )


def _estimate_rows(
    spec: TrainSpec, result: PipelineResult, best: str, model: TrainedModel
) -> tuple[pd.DataFrame, np.ndarray, bool]:
    """The rows (time order) the label-free estimate is calibrated on, the served scores
    of them, and whether they are cross-fitted (see `TrainSpec.reserve_fraction`)."""
    reserve = result.outputs["reserve_rows"]
    if len(reserve):
        return reserve, model.predict_frame(reserve), False
    valid = result.outputs["valid_rows"]
    order = _order(valid, spec.time_column)
    y = valid[spec.label].to_numpy()[order]
    score = result.outputs[f"score_{best}"][SCORE].to_numpy()[order]
    if model.calibration:  # fitted on these rows: each block through a map without it
        score = calibration.cross_fitted(score, y)
    return valid.iloc[order].reset_index(drop=True), score, True


def _threshold_metrics(found: dict[str, Any] | None) -> dict[str, float]:
    if found is None:
        return {}
    return {"best_threshold": found["threshold"], "best_cost_per_row": found["cost_per_row"]}


def _calibration_metrics(decision: dict[str, Any] | None) -> dict[str, float]:
    if decision is None:
        return {}
    return {
        "calibrated": float(decision["method"] is not None),
        "brier_held_out_raw": decision["brier_raw"],
        "brier_held_out_calibrated": decision["brier_calibrated_held_out"],
    }


def _score(model: TrainedModel, valid_rows: pd.DataFrame) -> pd.DataFrame:
    """The model's raw scores of the validation rows, once: evaluation, calibration and
    the conformal quantiles all read them (scoring is what costs at a million rows)."""
    return pd.DataFrame({SCORE: model.predict_frame(valid_rows)})


def _calibrate(
    valid_rows: pd.DataFrame, scores: pd.DataFrame, label: str, time_column: str | None
) -> dict[str, Any]:
    order = _order(valid_rows, time_column)
    score = scores[SCORE].to_numpy()[order]
    return calibration.decide(score, valid_rows[label].to_numpy()[order])


def _conformal(
    valid_rows: pd.DataFrame,
    scores: pd.DataFrame,
    label: str,
    time_column: str | None,
    task: str,
    calibrated: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Conformal quantiles from validation rows the served model never fitted on: with a
    calibration map (itself fitted on these rows), each row's score comes from the map
    cross-fitted without its block."""
    order = _order(valid_rows, time_column)
    y = valid_rows[label].to_numpy()[order]
    score = scores[SCORE].to_numpy()[order]
    if calibrated and calibrated["map"]:
        score = calibration.cross_fitted(score, y)
    return conformal.fit(score, y, task)


def _span(rows: pd.DataFrame, time_column: str | None) -> dict[str, Any]:
    if time_column is None:
        return {"rows": len(rows)}
    times = rows[time_column]
    return {"rows": len(rows), "from": str(times.min()), "to": str(times.max())}


def _check_label(examples: pd.DataFrame, label: str, task: str = CLASSIFICATION) -> None:
    if label not in examples.columns:
        raise TrainingError(
            f"The label column {label!r} is not in the training data; it has "
            f"{list(examples.columns)}."
        )
    if task == REGRESSION:
        values = pd.to_numeric(examples[label], errors="coerce").dropna()
        if values.nunique() < 2:
            raise TrainingError(
                f"The label {label!r} has {values.nunique()} distinct numeric value(s): a "
                "regression needs a varying number. Check the label's definition."
            )
        return
    classes = examples[label].dropna().unique()
    if len(classes) < 2:
        raise TrainingError(
            f"The label {label!r} has {len(classes)} distinct value(s) ({list(classes)[:3]}): a "
            "classifier needs both classes. Check the label's definition and the time range."
        )


def _split_step(part: str, spec: TrainSpec) -> Step:
    """The `train_rows`, `valid_rows` or `reserve_rows` step: a time range, or one side of
    a random split; the validation rows less those held back, or those held back."""
    reserve = spec.reserve_fraction if spec.reserves and part != "train" else 0.0
    if spec.time_column is None:
        stratify = spec.label if spec.task == CLASSIFICATION else None
        params = {"part": part, "fraction": spec.valid_fraction, "stratify": stratify}
        params |= {"seed": spec.seed, "reserve": reserve, "min_reserve": spec.min_reserve_rows}
        return Step(f"{part}_rows", _random_rows, inputs=("examples",), params=params)
    start, end = (None, spec.valid_from) if part == "train" else (spec.valid_from, spec.valid_until)
    params = {"time_column": spec.time_column, "start": start, "end": end}
    if part == "reserve" or reserve:
        held = {"reserve": reserve, "held_back": part == "reserve", "stratify": spec.label}
        params |= {**held, "seed": spec.seed, "min_reserve": spec.min_reserve_rows}
    return Step(f"{part}_rows", _rows, inputs=("examples",), params=params)


def _random_rows(
    examples: pd.DataFrame,
    part: str,
    fraction: float,
    stratify: str | None,
    seed: int,
    reserve: float = 0.0,
    min_reserve: int = 0,
) -> pd.DataFrame:
    """One side of a seeded split (stratified on the label when given), in a seeded random
    order: the order later steps cut early-stopping and calibration blocks from. With
    `reserve`, that share of the validation side (`_held_back`) is `part` "reserve", the
    rest "valid"."""
    from sklearn.model_selection import train_test_split

    labels = None if stratify is None else examples[stratify]
    train, valid = train_test_split(
        np.arange(len(examples)), test_size=fraction, random_state=seed, stratify=labels
    )
    if part == "train":
        return examples.iloc[train].reset_index(drop=True)
    rows = examples.iloc[valid].reset_index(drop=True)
    if not reserve and part != "reserve":
        return rows
    chosen = _held_back(rows, reserve, min_reserve, stratify, seed)
    return rows[chosen if part == "reserve" else ~chosen].reset_index(drop=True)


def _in_order(rows: pd.DataFrame, time_column: str | None) -> pd.DataFrame:
    """Rows in time order; rows of a random split are already in their seeded order."""
    return rows if time_column is None else rows.iloc[_order(rows, time_column)]


def _order(rows: pd.DataFrame, time_column: str | None) -> np.ndarray:
    """The positions of `rows` in time order (see `_in_order`)."""
    if time_column is None:
        return np.arange(len(rows))
    return rows[time_column].argsort(kind="stable").to_numpy()


def _rows(
    examples: pd.DataFrame,
    time_column: str,
    start: Any,
    end: Any,
    reserve: float = 0.0,
    held_back: bool = False,
    stratify: str | None = None,
    seed: int = 0,
    min_reserve: int = 0,
) -> pd.DataFrame:
    """The rows with `start` <= time < `end`; with `reserve`, less those held back
    (`_held_back`), or (`held_back`) only those, in time order."""
    times = examples[time_column]
    keep = np.ones(len(examples), bool)
    if start is not None:
        keep &= (times >= pd.Timestamp(start)).to_numpy()
    if end is not None:
        keep &= (times < pd.Timestamp(end)).to_numpy()
    if not keep.any():
        raise TrainingError(
            f"No rows with {start or 'any time'} <= {time_column} < {end or 'any time'}: the "
            f"data spans {times.min()} to {times.max()}. Move the split dates inside it."
        )
    rows = examples[keep].reset_index(drop=True)
    if not reserve and not held_back:
        return rows
    chosen = _held_back(rows, reserve, min_reserve, stratify, seed)
    if held_back:
        order = _order(rows, time_column)
        return rows.iloc[order[chosen[order]]].reset_index(drop=True)
    return rows[~chosen].reset_index(drop=True)


def _held_back(
    rows: pd.DataFrame, share: float, min_rows: int, stratify: str | None, seed: int
) -> np.ndarray:
    """Which validation rows are held back: a seeded `share`, stratified on `stratify`;
    none when that would be fewer than `min_rows` (see `TrainSpec.reserve_fraction`)."""
    from sklearn.model_selection import train_test_split

    chosen = np.zeros(len(rows), dtype=bool)
    if round(len(rows) * share) < max(min_rows, 1):
        return chosen
    labels = None if stratify is None else rows[stratify].to_numpy()
    _, out = train_test_split(
        np.arange(len(rows)), test_size=share, random_state=seed + 1, stratify=labels
    )
    chosen[out] = True
    return chosen


def _tune(
    train_rows: pd.DataFrame,
    flavor: str,
    params: dict[str, Any],
    features: dict[str, Any],
    label: str,
    seed: int,
    task: str,
    time_column: str | None,
    n_trials: int,
    timeout_seconds: float | None,
) -> dict[str, Any]:
    return tune(
        flavor,
        train_rows,
        label=label,
        features=_feature_spec(features),
        time_column=time_column,
        n_trials=n_trials,
        timeout_seconds=timeout_seconds,
        params=params,
        seed=seed,
        task=task,
    )


def fit(
    train_rows: pd.DataFrame,
    flavor: str,
    params: dict[str, Any],
    features: dict[str, Any],
    label: str,
    seed: int,
    task: str,
    time_column: str | None,
    tuned: dict[str, Any] | None = None,
    max_rows: int | None = None,
) -> TrainedModel:
    """Fit on the training rows (a seeded sample of `max_rows` of them, if given). A
    flavor that stops early (LightGBM) finds its number of rounds on the last tenth (by
    time), then is fitted again on every training row with that many: the rows nearest
    the validation period are the most like it, and leaving them out of the served model
    cost the flights demo 0.03 of June AUC. The validation rows stay unseen throughout."""
    _check_label(train_rows, label, task)
    chosen = {**params, **(tuned["best_params"] if tuned else {})}
    if max_rows is not None and len(train_rows) > max_rows:
        keep = np.random.default_rng(seed).choice(len(train_rows), max_rows, replace=False)
        train_rows = train_rows.iloc[np.sort(keep)]
    rows = _in_order(train_rows, time_column)
    spec = _feature_spec(features)
    if get_flavor(flavor).stops_early:
        cut = int(len(rows) * 0.9)
        found = fit_model(
            flavor,
            rows.iloc[:cut],
            label,
            spec,
            valid=rows.iloc[cut:],
            params=chosen,
            seed=seed,
            task=task,
        )
        chosen = {**chosen, "num_boost_round": found.params["num_boost_round"]}
    return fit_model(flavor, rows, label, spec, params=chosen, seed=seed, task=task)


def _feature_spec(features: dict[str, Any]) -> FeatureSpec:
    return FeatureSpec(tuple(features["categorical"]), tuple(features["numeric"]))


def _evaluate(
    model: TrainedModel,
    valid_rows: pd.DataFrame,
    scores: pd.DataFrame,
    label: str,
    seed: int,
    task: str,
    slices: list[str],
    min_slice_rows: int,
    costs: list[float],
) -> dict[str, Any]:
    y = valid_rows[label].to_numpy()
    score = scores[SCORE].to_numpy()
    scored = valid_rows.assign(__score=score)
    per_slice = slice_metrics(
        scored,
        label=label,
        score="__score",
        slices=slices,
        metric_name="roc_auc" if task == CLASSIFICATION else "rmse",
        min_rows=min_slice_rows,
        seed=seed,
    )
    by_task: dict[str, Any] = (
        {
            "metrics": classification_metrics(y, score),
            "calibration": calibration_table(y, score),
            "best_threshold": best_threshold(
                y, score, cost_false_negative=costs[0], cost_false_positive=costs[1]
            ),
        }
        if task == CLASSIFICATION
        else {"metrics": regression_metrics(y, score)}
    )
    return {
        **by_task,
        "slices": [asdict(s) for s in per_slice],
        "rows": len(valid_rows),
        "params": model.params,
        "features": {
            "categorical": list(model.spec.categorical),
            "numeric": list(model.spec.numeric),
        },
    }


def _track(
    spec: TrainSpec,
    models: dict[str, TrainedModel],
    scores: dict[str, np.ndarray],
    result: PipelineResult,
    evaluations: dict[str, dict[str, Any]],
    keys: dict[str, str],
    inputs: Mapping[str, SnapshotRecord],
    lineage: dict[str, str],
    tracker: Tracker,
) -> dict[str, str]:
    """One MLflow run per model under a pipeline run; a model whose fit was reused keeps
    its earlier run (found by the step key), so a cached re-run adds no duplicates. The
    pipeline run's own id is under the key ""."""
    run_ids = {}
    with tracker.run(f"train-{spec.model_name}", tags=lineage) as parent:
        run_ids[""] = parent
        tracker.log_inputs(parent, inputs)
        tracker.log(
            parent,
            params={"seed": spec.seed, "split": spec.split, "baseline_rows": spec.baseline_rows},
            metrics={"steps_reused": sum(r.cached for r in result.records)},
        )
        tracker.log_json(parent, "pipeline.json", result.to_dict())
        for model in spec.models:
            key = keys[f"fit_{model.name}"]
            found = tracker.find_run(STEP_KEY_TAG, key)
            if found is not None:
                run_ids[model.name] = found
                continue
            evaluation = evaluations[model.name]
            with tracker.run(
                model.name, parent_id=parent, tags={**lineage, STEP_KEY_TAG: key}
            ) as run_id:
                tracker.log_inputs(run_id, inputs)
                tracker.log(
                    run_id,
                    params={"flavor": model.flavor, "seed": spec.seed, **evaluation["params"]},
                    metrics={
                        **evaluation["metrics"],
                        **_threshold_metrics(evaluation.get("best_threshold")),
                        **_calibration_metrics(evaluation.get("calibration_decision")),
                    },
                )
                tracker.log_json(run_id, "evaluation.json", evaluation)
                with tempfile.TemporaryDirectory() as tmp:
                    labels = result.outputs["valid_rows"][spec.label]
                    save_plots(labels, scores[model.name], evaluation, Path(tmp))
                    tracker.log_folder(run_id, Path(tmp), "plots")
                with tempfile.TemporaryDirectory() as tmp:
                    models[model.name].save(Path(tmp))
                    tracker.log_folder(run_id, Path(tmp), "model")
            run_ids[model.name] = run_id
    return run_ids
