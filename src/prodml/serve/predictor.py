"""A loaded model version ready to answer: its request schema, enrichment, scores with
conformal uncertainty, and explanations. HTTP, batch and streaming all answer through it.
"""

from __future__ import annotations

import json
import logging
import math
import secrets
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from prodml.errors import ServingError
from prodml.govern.privacy import Redactor, looks_personal
from prodml.registry import ModelVersionInfo
from prodml.registry.registry import PII_TAG
from prodml.serve.compiled import CompiledTrees, available, compile_booster, probe_rows, verify
from prodml.serve.enrich import Enricher
from prodml.serve.schemas import feedback_model, request_model, row_schema
from prodml.train import calibration, conformal
from prodml.train.flavors import RowScorer
from prodml.train.flavors._fastpath import SingleRowBooster
from prodml.train.model import CLASSIFICATION, TrainedModel

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Prediction:
    """One answer: the score (probability of the positive class, or the predicted value),
    the decided label (classification) and the conformal set or interval, when the model
    carries conformal quantiles."""

    score: float
    label: int | None = None
    prediction_set: list[int] | None = None
    interval: tuple[float, float] | None = None

    def to_dict(self) -> dict[str, Any]:
        if self.label is None:  # regression
            bounds = None if self.interval is None else [_finite(b) for b in self.interval]
            return {"value": self.score, "interval": bounds}
        return {
            "label": self.label,
            "probability": self.score,
            "prediction_set": self.prediction_set,
        }


class Predictor:
    """One loaded model version, its request schema, decision threshold and coverage."""

    def __init__(
        self,
        model: TrainedModel,
        info: ModelVersionInfo,
        *,
        threshold: float = 0.5,
        coverage: float = 0.9,
        enricher: Enricher | None = None,
        max_batch_rows: int = 1000,
        redactor: Redactor | None = None,
    ):
        if not 0.0 < threshold < 1.0:
            raise ValueError(f"threshold must be a float in (0, 1). Got {threshold} instead.")
        self.model = model
        self.info = info
        self.threshold = threshold
        self.coverage = coverage if model.conformal else None
        self.enricher = enricher
        self.row_schema = row_schema(model, info.name, enricher)
        self.request_model = request_model(self.row_schema, max_batch_rows)
        self.max_batch_rows = max_batch_rows
        self.classifier = model.task == CLASSIFICATION
        self.feedback_model = feedback_model(self.classifier)
        self.quantile = conformal.quantile(model.conformal, coverage) if model.conformal else None
        self._fast: RowScorer | None = model.one_row()
        self._compiling: threading.Thread | None = None
        # Personal data the log must not hold in clear: the request fields its training
        # contracts tag `pii` (see `govern.privacy`); without the workspace's key, a key of
        # this process (hashes then match within it only).
        self.redactor = redactor or Redactor(secrets.token_bytes(32))
        self.fields = frozenset(self.row_schema.model_fields)
        self.pii_columns = frozenset(json.loads(info.tags.get(PII_TAG, "[]")))
        self.pii = self.pii_columns & self.fields

    def logged_inputs(self, row: Mapping[str, Any]) -> Mapping[str, Any]:
        """A validated request row as the prediction log may keep it: PII fields and any
        text that looks personal hashed (the row itself when there is none)."""
        if self.pii or any(looks_personal(v) for v in row.values()):
            return self.redactor.row(row, self.pii)
        return row

    def logged_sent(self, sent: Mapping[str, Any]) -> dict[str, Any]:
        """A refused row's values as sent, as the log may keep them: also hashed, the
        values of fields the model does not know."""
        return self.redactor.row(sent, self.pii, known=self.fields)

    def echoes(self, field: str) -> bool:
        """Whether an error about `field` may quote the value sent (a known field that
        is not personal)."""
        return field in self.fields and field not in self.pii

    @property
    def engine(self) -> str:
        """What scores one row: "compiled" trees, the flavor's one-row path (e.g.
        "lightgbm"), or the "model"'s batch scoring."""
        if isinstance(self._fast, CompiledTrees):
            return "compiled"
        return "model" if self._fast is None else self.model.flavor

    def compile_in_background(self, cache: Path) -> threading.Thread | None:
        """Compile a LightGBM model's trees on a thread and switch the one-row path to them
        once they score probe rows bit-identically; None when there is nothing to do."""
        if not isinstance(self._fast, SingleRowBooster):  # trees compile from LightGBM only
            return None
        reason = available()
        if reason:
            logger.info("%s keeps LightGBM's one-row path: %s.", self.info.ref, reason)
            return None
        thread = threading.Thread(
            target=self._compile, args=(cache,), name="prodml-compile", daemon=True
        )
        thread.start()
        self._compiling = thread
        return thread

    def ready(self, timeout: float) -> None:
        """Wait up to `timeout` seconds for a background compile to end, so a version swapped
        in takes its traffic at full speed: a canary is not judged on its slower path while
        its own compiler competes for the cores (a compile that takes longer goes on)."""
        if self._compiling is not None:
            self._compiling.join(timeout)

    def _compile(self, cache: Path) -> None:
        booster = self.model.estimator
        try:
            library = compile_booster(booster, cache)
            trees = CompiledTrees(library, len(self.model.spec.names), self._fast)
            wrong = verify(trees, booster, probe_rows(booster))
        except Exception:  # the server answers on LightGBM's path, as before
            logger.warning(
                "Compiling %s failed; it stays on LightGBM.", self.info.ref, exc_info=True
            )
            return
        if wrong:
            logger.warning(
                "Compiled trees of %s differ from LightGBM on %d probe rows; not used.",
                self.info.ref,
                wrong,
            )
            return
        self._fast = trees  # one attribute swap: a request sees the old path or the new
        logger.info("%s answers one row with compiled trees (%s).", self.info.ref, trees.library)

    def quick(self, rows: Sequence[Mapping[str, Any]]) -> bool:
        """Whether scoring `rows` is a bounded few-microsecond computation with no I/O (one
        row, compiled trees, no feature lookup): a rollout arm may then score it on the
        server's loop, as a thread hand-off would cost more than the scoring."""
        return len(rows) == 1 and self.enricher is None and isinstance(self._fast, CompiledTrees)

    def features(self, rows: Sequence[Mapping[str, Any]]) -> Sequence[Mapping[str, Any]]:
        """The model's input rows: the request rows, enriched from the feature store when
        the model was trained on a feature service."""
        return rows if self.enricher is None else self.enricher.enrich(rows)

    async def features_async(
        self, rows: Sequence[Mapping[str, Any]]
    ) -> Sequence[Mapping[str, Any]]:
        """`features`, for a server: the lookup is shared with the requests waiting at
        the same moment, and made on a thread of its own when there are several."""
        if self.enricher is None:
            return rows
        return await self.enricher.enrich_concurrently(rows)

    def scores(self, rows: Sequence[Mapping[str, Any]]) -> list[float]:
        """The model's scores of rows holding every model feature; one row takes the
        one-row path (compiled trees or LightGBM's fast path), no pandas anywhere."""
        if self._fast is None or len(rows) != 1:
            return self.model.predict_rows(rows).tolist()
        raw = self._fast.predict(self.model.encoder.pack_row(rows[0]))
        if self.model.calibration:
            return calibration.apply(self.model.calibration, np.array([raw])).tolist()
        return [raw]

    def predict(self, rows: Sequence[Mapping[str, Any]]) -> list[Prediction]:
        """Score rows holding every model feature (see `features`)."""
        q = self.quantile
        if not self.classifier:
            return [
                Prediction(v, interval=None if q is None else conformal.interval(v, q))
                for v in self.scores(rows)
            ]
        threshold = self.threshold
        return [
            Prediction(
                p, int(p >= threshold), None if q is None else conformal.prediction_set(p, q)
            )
            for p in self.scores(rows)
        ]

    def smoke(self) -> None:
        """Score one row of unknown values end to end; raise if the score is not a number.
        Run before a loaded version takes traffic."""
        (found,) = self.predict([dict.fromkeys(self.model.spec.names)])
        if not math.isfinite(found.score):
            raise ServingError(
                f"Model {self.info.name} version {self.info.version} scored {found.score} on "
                "a row of missing values; it is not served."
            )

    def explain(self, rows: Sequence[Mapping[str, Any]], *, top: int = 5) -> list[dict[str, Any]]:
        """Per row, the `top` features that moved the score most (log-odds, signed), with
        each feature's value and the base value they add to."""
        names = self.model.spec.names
        out = []
        for row, contributions in zip(rows, self.model.contributions(rows), strict=True):
            order = np.argsort(-np.abs(contributions[:-1]), kind="stable")[:top]
            out.append(
                {
                    "base_value": float(contributions[-1]),
                    "contributions": [
                        {
                            "feature": names[i],
                            "value": row.get(names[i]),
                            "contribution": float(contributions[i]),
                        }
                        for i in order
                    ],
                }
            )
        return out


def _finite(bound: float) -> float | None:
    """A bound as JSON can hold it: an unbounded side (too few calibration rows) is null."""
    return bound if math.isfinite(bound) else None
