"""The drift reference of a model: built once from its training rows, then read by every
window (never recomputed per window).

A numeric feature keeps its present values sorted (what KS and Wasserstein need, so a
window sorts only its own values), with mean, standard deviation and distinct count; a
categorical feature keeps its count per category. Missing values are counted apart.
A seeded sample of whole rows (`SAMPLE_ROWS`) is kept too, for what needs features
together: the multivariate domain classifier and per-segment drift. Saved as one ``.npz``
file of plain arrays (no pickle): the sorted values, the sample (numbers as floats,
categories as codes), and the rest as JSON in a byte array.
"""

from __future__ import annotations

import dataclasses
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from prodml.data.profile import is_numeric
from prodml.errors import DataValidationError, NotFoundError

if TYPE_CHECKING:
    from prodml.store import ArtifactStore
    from prodml.train.model import TrainedModel

NUMERIC, CATEGORICAL = "numeric", "categorical"
SAMPLE_ROWS = 20_000


@dataclass(frozen=True)
class ReferenceColumn:
    """One feature of the reference."""

    kind: str  # NUMERIC or CATEGORICAL
    rows: int  # present values
    nulls: int
    sorted_values: np.ndarray | None = None  # numeric
    mean: float = 0.0
    std: float = 0.0
    distinct: int = 0
    counts: dict[str, int] = field(default_factory=dict)  # categorical


@dataclass(frozen=True)
class Reference:
    """The reference profile: per feature, what the drift tests compare a window with."""

    columns: dict[str, ReferenceColumn]
    rows: int
    # CBPE's estimator (classifiers only; see monitor.estimate.calibrate): the
    # score-to-probability map fitted on held-out labelled rows, its bootstrap refits (the
    # interval) and, under "error", its error measured on held-out windows of those rows.
    estimator: dict[str, Any] | None = None
    sample: pd.DataFrame | None = None  # whole rows, for multivariate and segment drift
    # Group metrics per sensitive attribute on the held-out rows (see monitor.fairness).
    fairness: dict[str, Any] | None = None
    # The held-out rows' excess error (mean, std, rows): what concept drift is judged from.
    errors: dict[str, float] | None = None
    # The headline metric on the held-out rows at registration, with its 95 % interval
    # ("metric", "value", "low", "high", "rows"): what a window's realized figure is held to.
    registered: dict[str, Any] | None = None
    # Each feature's share of the scores' movement, on the training sample (see
    # monitor.explain); None for a flavor that cannot explain.
    importance: dict[str, float] | None = None

    @classmethod
    def build(
        cls,
        model: TrainedModel,
        rows: pd.DataFrame,
        features: Sequence[str],
        *,
        holdout: pd.DataFrame | None = None,
        label: str | None = None,
        sensitive: Sequence[str] = (),
        holdout_score: np.ndarray | None = None,
    ) -> Reference:
        """A registered version's reference from the rows it learned from. Its own scores
        are the reference for prediction drift: of `holdout` rows when given (rows it did
        not fit on score as production will; its training rows score more confidently),
        else of `rows`. A classifier given `holdout` rows with their `label` also gets the
        calibration label-free performance estimation needs, with its error measured on
        windows of them, and the group metrics of its decisions (at 0.5, as served) for
        each `sensitive` attribute. `holdout` must be rows the model never used in any way
        (not to fit, stop early, choose among candidates or calibrate it: a calibration
        fitted on those finds the model better than it is), in time order (the error is
        measured on consecutive windows). `holdout_score` is the model's scores of `holdout`, when
        they are already known."""
        from prodml.monitor.estimate import calibrate, held_out_errors
        from prodml.monitor.explain import explainer
        from prodml.monitor.fairness import group_metrics
        from prodml.monitor.traffic import PREDICTION

        names = list(features)
        reference = cls.from_frame(rows, names)
        held_score = holdout_score
        if held_score is None and holdout is not None:
            held_score = model.predict_frame(holdout)
        score = held_score if held_score is not None else model.predict_frame(rows)
        assert reference.sample is not None
        # Scoring every training row would cost more than the model's fit at a million
        # rows: only the sample's rows are scored for the joint sample.
        sample = reference.sample.assign(**{PREDICTION: model.predict_frame(reference.sample)})
        shares = explainer(model)
        reference = dataclasses.replace(
            reference,
            columns={**reference.columns, PREDICTION: reference_column(pd.Series(score))},
            sample=sample,
            importance=None if shares is None else shares(reference.sample),
        )
        if held_score is not None and holdout is not None and label is not None:
            reference = dataclasses.replace(
                reference, registered=registered_figure(model.task, holdout[label], held_score)
            )
        if (
            held_score is None
            or holdout is None
            or label is None
            or model.task != "classification"
            or holdout[label].nunique() != 2  # CBPE calibrates on both classes
        ):
            return reference
        decided = holdout.assign(_decision=(held_score >= 0.5).astype(float))
        estimator = calibrate(held_score, holdout[label])
        errors = held_out_errors(held_score, holdout[label])
        return dataclasses.replace(
            reference,
            estimator=estimator,
            errors={"mean": float(errors.mean()), "std": float(errors.std()), "rows": errors.size},
            fairness=group_metrics(decided, label=label, decision="_decision", sensitive=sensitive)
            or None,
        )

    @classmethod
    def from_frame(
        cls,
        frame: pd.DataFrame,
        features: Sequence[str] | None = None,
        *,
        sample_rows: int = SAMPLE_ROWS,
    ) -> Reference:
        """The reference of `features` (default: every column) of `frame`, with a sample of
        up to `sample_rows` whole rows (0: none, for a reference only compared by
        feature); a column is numeric if its dtype is (booleans are categories)."""
        names = list(features) if features is not None else list(frame.columns)
        missing = [n for n in names if n not in frame.columns]
        if missing:
            raise DataValidationError(
                f"The reference rows have no column(s) {', '.join(missing)}; they have "
                f"{', '.join(map(str, frame.columns))}."
            )
        columns = {name: reference_column(frame[name]) for name in names}
        if sample_rows == 0:
            return cls(columns, len(frame))
        take = min(len(frame), sample_rows)
        rows = np.sort(np.random.default_rng(0).choice(len(frame), take, replace=False))
        # Rows first, then columns: frame[names] would copy every row of the frame.
        sample = frame.iloc[rows][names].reset_index(drop=True)
        for name, column in columns.items():  # the sample's types follow the columns'
            if column.kind == NUMERIC:
                sample[name] = sample[name].to_numpy(dtype=float, na_value=np.nan)
            else:
                sample[name] = sample[name].astype("string")
        return cls(columns, len(frame), sample=sample)

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(self.to_bytes())

    @classmethod
    def load(cls, path: Path) -> Reference:
        return cls.from_bytes(path.read_bytes())

    def to_bytes(self) -> bytes:
        meta: dict[str, Any] = {
            "rows": self.rows,
            "columns": {},
            "estimator": self.estimator,
            "fairness": self.fairness,
            "errors": self.errors,
            "registered": self.registered,
            "importance": self.importance,
        }
        arrays: dict[str, np.ndarray] = {}
        if self.sample is not None:
            meta["sample"] = {}
            for i, name in enumerate(self.sample.columns):
                values = self.sample[name]
                if self.columns[name].kind == NUMERIC:
                    arrays[f"sample_{i}"] = values.to_numpy(dtype=float)
                    meta["sample"][name] = {"array": f"sample_{i}"}
                else:
                    codes, categories = pd.factorize(values, use_na_sentinel=True)
                    arrays[f"sample_{i}"] = codes.astype(np.int32)
                    meta["sample"][name] = {"array": f"sample_{i}", "categories": list(categories)}
        for i, (name, column) in enumerate(self.columns.items()):
            entry = {k: getattr(column, k) for k in ("kind", "rows", "nulls", "mean", "std")}
            entry |= {"distinct": column.distinct, "counts": column.counts}
            if column.sorted_values is not None:
                entry["array"] = key = f"values_{i}"
                arrays[key] = column.sorted_values
            meta["columns"][name] = entry
        arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
        buffer = io.BytesIO()
        np.savez(buffer, **arrays)  # type: ignore[arg-type]  # numpy stubs: kwargs are arrays
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, data_bytes: bytes) -> Reference:
        with np.load(io.BytesIO(data_bytes), allow_pickle=False) as data:
            meta = json.loads(data["meta"].tobytes())
            columns = {}
            for name, entry in meta["columns"].items():
                array = entry.pop("array", None)
                columns[name] = ReferenceColumn(
                    **entry, sorted_values=None if array is None else data[array]
                )
            sample = None
            if "sample" in meta:
                sample = pd.DataFrame(
                    {
                        name: _decoded(data[entry["array"]], entry.get("categories"))
                        for name, entry in meta["sample"].items()
                    }
                )
        return cls(
            columns,
            int(meta["rows"]),
            meta.get("estimator"),
            sample,
            meta.get("fairness"),
            meta.get("errors"),
            meta.get("registered"),
            meta.get("importance"),
        )


def registered_figure(task: str, y: pd.Series, score: np.ndarray) -> dict[str, Any] | None:
    """The headline metric (ROC AUC of a classifier, RMSE of a regression) of held-out rows,
    with its bootstrap interval; None when it cannot be measured (one class only)."""
    from prodml.monitor.performance import realized

    truth = y.to_numpy(dtype=float)
    classifier = task == "classification"
    metric = "roc_auc" if classifier else "rmse"
    figure = realized(truth, score, (score >= 0.5).astype(float) if classifier else None)[metric]
    if not np.isfinite([figure.value, figure.low, figure.high]).all():
        return None
    return {
        "metric": metric,
        "value": figure.value,
        "low": figure.low,
        "high": figure.high,
        "rows": int(truth.size),
    }


def _decoded(array: np.ndarray, categories: list[str] | None) -> pd.Series:
    if categories is None:
        return pd.Series(array, dtype=float)
    lookup = np.array([*categories, None], dtype=object)  # code -1 (missing) takes the last
    return pd.Series(lookup[array], dtype="string")


def reference_column(values: pd.Series) -> ReferenceColumn:
    """One column's reference (see the module docstring)."""
    if is_numeric(values):
        data = present_numbers(values)
        data.sort()
        distinct = int(np.count_nonzero(np.diff(data))) + 1 if data.size else 0
        return ReferenceColumn(
            NUMERIC,
            rows=int(data.size),
            nulls=len(values) - int(data.size),
            sorted_values=data,
            mean=float(data.mean()) if data.size else 0.0,
            std=float(data.std()) if data.size else 0.0,
            distinct=distinct,
        )
    counts = category_counts(values)
    return ReferenceColumn(
        CATEGORICAL,
        rows=sum(counts.values()),
        nulls=int(values.isna().sum()),
        distinct=len(counts),
        counts=counts,
    )


def present_numbers(values: pd.Series) -> np.ndarray:
    """The finite values as float64 (missing and infinite ones left out)."""
    data = values.to_numpy(dtype=float, na_value=np.nan)
    return data[np.isfinite(data)]


def category_counts(values: pd.Series) -> dict[str, int]:
    """Rows per category (as text), missing values left out, most frequent first."""
    present = values.dropna()
    if not (isinstance(present.dtype, pd.StringDtype) or present.dtype == object):
        present = present.astype(str)
    return {str(k): int(v) for k, v in present.value_counts(sort=True).items()}


def reference_key(name: str, version: str) -> str:
    """Where a version's reference is kept in the artifact store."""
    return f"references/{name}/{version}.npz"


def load_reference(artifacts: ArtifactStore, name: str, version: str) -> Reference:
    """The reference saved for `name` version `version` (hash-checked)."""
    try:
        data = artifacts.get_bytes(reference_key(name, version))
    except NotFoundError as exc:
        raise NotFoundError(
            f"No drift reference for {name} version {version}: references are built when "
            "`prodml train` or `prodml.register` registers a version. Register it again, or "
            "call Workspace.save_reference with its training rows."
        ) from exc
    return Reference.from_bytes(data)
