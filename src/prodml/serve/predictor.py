"""Validate prediction requests against a model's signature and score them.

The request schema is generated from the model's feature spec, so the API's OpenAPI
document and its 422 answers always match the model actually loaded.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, create_model

from prodml.registry import ModelVersionInfo
from prodml.serve.enrich import Enricher
from prodml.train.model import TrainedModel


@dataclass(frozen=True)
class Prediction:
    label: int
    probability: float


class Predictor:
    """One loaded model version, its request schema and its decision threshold."""

    def __init__(
        self,
        model: TrainedModel,
        info: ModelVersionInfo,
        *,
        threshold: float = 0.5,
        enricher: Enricher | None = None,
    ):
        if not 0.0 < threshold < 1.0:
            raise ValueError(f"threshold must be a float in (0, 1). Got {threshold} instead.")
        self.model = model
        self.info = info
        self.threshold = threshold
        self.enricher = enricher
        self.row_schema = _row_schema(model, info, enricher)

    def features(self, rows: Sequence[Mapping[str, Any]]) -> Sequence[Mapping[str, Any]]:
        """The model's input rows: the request rows, enriched from the feature store when
        the model was trained on a feature service."""
        return rows if self.enricher is None else self.enricher.enrich(rows)

    def predict(self, rows: Sequence[Mapping[str, Any]]) -> list[Prediction]:
        """Score rows holding every model feature (see `features`)."""
        scores = self.model.predict_rows(rows)
        return [Prediction(int(p >= self.threshold), float(p)) for p in scores]

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


def _row_schema(
    model: TrainedModel, info: ModelVersionInfo, enricher: Enricher | None
) -> type[BaseModel]:
    spec = model.spec
    stored = enricher.provided if enricher else frozenset()
    fields: dict[str, Any] = {}
    for name in spec.categorical:
        if name not in stored:
            known = len(model.encoder.vocabulary.get(name, {}))
            description = f"categorical; {known} values seen in training; null when unknown"
            fields[name] = (str | None, Field(description=description))
    for name in spec.numeric:
        if name not in stored:
            fields[name] = (float | None, Field(description="numeric; null when unknown"))
    for name, kind in (enricher.request_fields if enricher else {}).items():
        fields.setdefault(
            name,
            (kind | None, Field(description="feature store key or input; null when unknown")),
        )
    return create_model(
        f"{_camel(info.name)}Row",
        __config__=ConfigDict(extra="forbid", allow_inf_nan=False, strict=False),
        **fields,
    )


def _camel(name: str) -> str:
    return "".join(
        part.capitalize() for part in name.replace(".", "-").replace("_", "-").split("-")
    )
