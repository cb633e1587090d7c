"""The API's request and response shapes, generated from the served model's signature.

A request row has exactly the model's features (or, for a model trained on a feature
service, the service's keys and request inputs instead of its stored features): a
categorical is a string, a numeric a finite number, and either may be null when unknown.
A categorical with at most `STRICT_CATEGORIES` values seen in training takes only those
values: there, an unseen value is almost surely a typo ("UA " for "UA"), refused rather than
scored as unknown. A larger vocabulary (tail numbers, destinations) takes any string, an
unseen one scored as missing, since new values are normal there.

These pydantic models validate requests and produce the OpenAPI document, so the two can
never disagree with the model actually loaded.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal
from urllib.parse import unquote

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, Strict, create_model

from prodml.errors import InputError
from prodml.serve.enrich import Enricher
from prodml.train.model import TrainedModel

STRICT_CATEGORIES = 30
# A number is a JSON number: true and "1" are refused, not read as 1.0.
NUMBER = Annotated[float, Strict()]


def _not_bool_or_text(value: Any) -> Any:
    if isinstance(value, bool | str):
        raise ValueError("must be a whole number, not a boolean or text")
    return value


# A whole number, 2.0 included (JSON Schema's integer), true and "2" not.
WHOLE = Annotated[int, BeforeValidator(_not_bool_or_text)]
MAX_FEEDBACK = 10_000  # labels per /v1/feedback request; load more with `prodml monitor labels`


EXPLAIN_TOP = 5  # reasons per row /v1/explain gives unless `?explain=top:N` says
MAX_REASONS = 100


def reasons_asked(query: bytes, default: int) -> int:
    """How many reason codes per row the query string `query` asks for with
    `explain=top:N` (`default` without it); `InputError` for anything else."""
    values = [
        v
        for k, _, v in (p.partition("=") for p in query.decode("latin-1").split("&"))
        if k == "explain"
    ]
    if not values:
        return default
    kind, _, count = unquote(values[-1]).partition(":")
    if kind == "top" and count.isdigit() and 1 <= int(count) <= MAX_REASONS:
        return int(count)
    msg = (
        f"explain must be top:N with N from 1 to {MAX_REASONS} (the N features that moved "
        f"each row's score most); got {values[-1]!r}."
    )
    raise InputError(msg, [{"loc": ["query", "explain"], "msg": msg, "type": "value_error"}])


def strict_vocabularies(model: TrainedModel) -> dict[str, list[str]]:
    """The categoricals whose values are checked, with the values they accept."""
    return {
        name: sorted(values)
        for name, values in model.encoder.vocabulary.items()
        if 0 < len(values) <= STRICT_CATEGORIES
    }


def row_schema(model: TrainedModel, name: str, enricher: Enricher | None) -> type[BaseModel]:
    """One request row of `model` (served under `name`)."""
    spec = model.spec
    stored = enricher.provided if enricher else frozenset()
    fields: dict[str, Any] = {}
    strict = strict_vocabularies(model)
    for feature in spec.categorical:
        if feature in stored:
            continue
        if feature in strict:
            kind: Any = Literal[tuple(strict[feature])]
            description = "categorical; one of the values seen in training, or null"
        else:
            known = len(model.encoder.vocabulary.get(feature, {}))
            kind = str
            description = f"categorical; {known} values seen in training, others scored as null"
        fields[feature] = (kind | None, Field(description=description))
    for feature in spec.numeric:
        if feature not in stored:
            fields[feature] = (NUMBER | None, Field(description="numeric; null when unknown"))
    for field, kind in (enricher.request_fields if enricher else {}).items():
        fields.setdefault(
            field,
            (
                (NUMBER if kind is float else kind) | None,
                Field(description="feature store key or input; null when unknown"),
            ),
        )
    return create_model(
        f"{_camel(name)}Row",
        __config__=ConfigDict(extra="forbid", allow_inf_nan=False, strict=False),
        **fields,
    )


def request_model(row: type[BaseModel], max_rows: int) -> type[BaseModel]:
    """The body of /v1/predict and /v1/explain: ``{"rows": [row, ...]}``."""
    return create_model(
        "PredictRequest",
        __config__=ConfigDict(extra="forbid"),
        # pydantic stops at max_length before validating rows, so oversized bodies are cheap.
        rows=(list[row], Field(min_length=1, max_length=max_rows)),  # type: ignore[valid-type]
    )


def rows_of(body: BaseModel) -> list[dict[str, Any]]:
    """The rows of a validated request body as dicts of feature values. These are the row
    models' own field dicts, not copies (``model_dump`` would cost a tenth of a one-row
    request): read them, never change them."""
    return [vars(row) for row in body.rows]  # type: ignore[attr-defined]


class ModelRef(BaseModel):
    name: str
    version: str


class Contribution(BaseModel):
    feature: str
    value: Any = None
    contribution: float


class Answer(BaseModel):
    """One row's answer: `label`, `probability` and `prediction_set` for a classifier;
    `value` and `interval` for a regression; `base_value` and `contributions` when
    explained."""

    label: int | None = None
    probability: float | None = None
    prediction_set: list[int] | None = Field(
        None, description="the classes that hold the true one at `coverage` (conformal)"
    )
    value: float | None = None
    interval: list[float | None] | None = Field(
        None, description="[low, high] holding the true value at `coverage` (conformal)"
    )
    base_value: float | None = None
    contributions: list[Contribution] | None = None


class Explanation(BaseModel):
    row: int
    base_value: float
    contributions: list[Contribution]


class ExplainedResponse(BaseModel):
    """GET /v1/explain/{request_id}: a logged prediction's reasons, recomputed."""

    request_id: str
    model: ModelRef
    explanations: list[Explanation]


class PredictResponse(BaseModel):
    request_id: str
    model: ModelRef
    coverage: float | None = Field(
        None, description="the conformal coverage of sets and intervals; null without them"
    )
    predictions: list[Answer]


def _answered_row() -> dict[str, Any]:
    """The fields that name one answered row: its request id and its row within it."""
    return {
        "request_id": (
            str,
            Field(
                min_length=1,
                max_length=255,
                pattern=r"^[^\x00]+$",
                description="the request id the prediction was answered with",
            ),
        ),
        "row": (
            WHOLE,
            Field(0, ge=0, le=2**31 - 1, description="the row within that request (0 for one)"),
        ),
    }


def _outcome(classifier: bool, description: str) -> tuple[Any, Any]:
    """An outcome's field: 0 or 1 for a classifier, any finite number for a regression."""
    bounds: dict[str, Any] = {"ge": 0, "le": 1} if classifier else {}
    return (WHOLE if classifier else NUMBER, Field(description=description, **bounds))


def feedback_model(classifier: bool) -> type[BaseModel]:
    """The body of /v1/feedback: the realized outcome of answered rows, whenever it becomes
    known; a classifier's truth is 0 or 1, a regression's any finite number."""
    entry = create_model(
        "Feedback",
        __config__=ConfigDict(extra="forbid", allow_inf_nan=False),
        **_answered_row(),
        label=_outcome(classifier, "the truth: 0 or 1 for a classifier, else the value"),
    )
    return create_model(
        "FeedbackRequest",
        __config__=ConfigDict(extra="forbid"),
        labels=(list[entry], Field(min_length=1, max_length=MAX_FEEDBACK)),  # type: ignore[valid-type]
    )


def override_model(classifier: bool) -> type[BaseModel]:
    """The body of /v1/override: a person's decision replacing the model's for one row."""
    return create_model(
        "OverrideRequest",
        __config__=ConfigDict(extra="forbid", allow_inf_nan=False),
        **_answered_row(),
        decision=_outcome(
            classifier, "the decision that stands: 0 or 1 for a classifier, else the value"
        ),
        reason=(str, Field(min_length=3, max_length=2000, description="why, for the record")),
        by=(
            str | None,
            Field(
                None,
                max_length=255,
                description="who decides, when the server checks no "
                "tokens (with tokens, the token's holder is recorded)",
            ),
        ),
    )


class OverrideResponse(BaseModel):
    model: str
    request_id: str
    row: int
    decision: float
    model_decision: float | None
    by: str


class FeedbackResponse(BaseModel):
    model: str
    accepted: int


class ErrorEntry(BaseModel):
    loc: list[str | int]
    msg: str
    type: str
    input: Any = None


class ErrorBody(BaseModel):
    detail: list[ErrorEntry]


def _camel(name: str) -> str:
    return "".join(
        part.capitalize() for part in name.replace(".", "-").replace("_", "-").split("-")
    )
