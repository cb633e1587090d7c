"""Feature definitions in Python: entities, feature views and the services models use.

A definition is plain data; its `version` is a hash of its content, so a registered model
can name exactly the definitions it was trained with.

>>> origin = Entity("origin", join_keys=("origin",))
>>> weather = FeatureView(
...     "weather",
...     entity=origin,
...     source="exports/weather.parquet",
...     timestamp="observed_at",
...     features=("temp", "wind_speed"),
...     ttl=timedelta(hours=3),
... )
>>> FeatureService("delay", views=(weather,)).features
('temp', 'wind_speed')

Code is part of a definition: a view's `transformation` (applied to its source rows before
they reach either store) and an `OnDemandFeatureView`'s function (applied to each event or
request row) are hashed by their source text, so editing either changes the version.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import marshal
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

Transformation = Callable[["pd.DataFrame"], "pd.DataFrame"]
RowFunction = Callable[[Mapping[str, Any]], Mapping[str, Any]]


@dataclass(frozen=True)
class Entity:
    """What features describe, the columns that identify it (its join keys) and their
    type (`str` or `int`; a served request is validated against it)."""

    name: str
    join_keys: tuple[str, ...]
    value_type: type[str] | type[int] = str

    def __post_init__(self) -> None:
        if not self.join_keys:
            raise ValueError(f"Entity {self.name!r} needs at least one join key.")


@dataclass(frozen=True)
class FeatureView:
    """Timestamped feature rows of one entity, from a Parquet file, folder or glob.

    A feature row counts for an event only if its `timestamp` is at or before the event's
    and, with a `ttl`, no older than that. Rows with the same key and timestamp are told
    apart by `created_timestamp` (the latest write wins). A `transformation` maps a batch
    of source rows (a DataFrame) to the view's columns, row by row; training, materializing
    and pushing all run it, so the stores never see untransformed rows.
    """

    name: str
    entity: Entity
    source: str
    timestamp: str
    features: tuple[str, ...]
    ttl: timedelta | None = None
    created_timestamp: str | None = None
    transformation: Transformation | None = field(default=None, compare=False)
    description: str = ""

    def __post_init__(self) -> None:
        clash = set(self.features) & {*self.entity.join_keys, self.timestamp}
        if clash:
            raise ValueError(
                f"FeatureView {self.name!r}: {sorted(clash)} are keys or the timestamp, not "
                "features."
            )
        if self.ttl is not None and self.ttl <= timedelta(0):
            raise ValueError(f"FeatureView {self.name!r}: ttl must be positive, got {self.ttl}.")

    @property
    def version(self) -> str:
        return _digest(self.definition())

    def definition(self) -> dict[str, Any]:
        """The view as plain data (what is hashed, and what the registry records)."""
        return {
            "name": self.name,
            "entity": {
                "name": self.entity.name,
                "join_keys": list(self.entity.join_keys),
                "value_type": self.entity.value_type.__name__,
            },
            "source": self.source,
            "timestamp": self.timestamp,
            "features": list(self.features),
            "ttl_seconds": None if self.ttl is None else self.ttl.total_seconds(),
            "created_timestamp": self.created_timestamp,
            "transformation": _code(self.transformation),
        }


@dataclass(frozen=True)
class OnDemandFeatureView:
    """Features computed per row, at the moment of use, from request data and other views'
    features: `function(row) -> {feature: value}` for each of `features`.

    Training applies it to every row of the training set and serving to every request, the
    same function both times, so the two cannot drift apart. `inputs` are the columns it
    reads: features of the service's views or fields of the request.
    """

    name: str
    inputs: tuple[str, ...]
    features: tuple[str, ...]
    function: RowFunction = field(compare=False)
    description: str = ""

    def __post_init__(self) -> None:
        if not self.features:
            raise ValueError(f"OnDemandFeatureView {self.name!r} needs at least one feature.")

    @property
    def version(self) -> str:
        return _digest(self.definition())

    def definition(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "inputs": list(self.inputs),
            "features": list(self.features),
            "function": _code(self.function),
        }

    def apply(self, row: Mapping[str, Any]) -> dict[str, Any]:
        """This view's features for one row; a missing output is a clear error."""
        result = self.function(row)
        missing = [f for f in self.features if f not in result]
        if missing:
            raise ValueError(
                f"OnDemandFeatureView {self.name!r}: its function returned no {missing}; "
                f"it must return every declared feature {list(self.features)}."
            )
        return {f: result[f] for f in self.features}


@dataclass(frozen=True)
class FeatureService:
    """The named set of feature views a model uses; feature names must not collide."""

    name: str
    views: tuple[FeatureView, ...] = field(default_factory=tuple)
    on_demand: tuple[OnDemandFeatureView, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        seen: dict[str, str] = {}
        for view in self._all_views:
            for feature in view.features:
                if feature in seen:
                    raise ValueError(
                        f"FeatureService {self.name!r}: feature {feature!r} comes from both "
                        f"{seen[feature]!r} and {view.name!r}; rename one in its view."
                    )
                seen[feature] = view.name

    @property
    def features(self) -> tuple[str, ...]:
        """Every feature the service gives: the views' first, then the on-demand ones."""
        return tuple(f for view in self._all_views for f in view.features)

    @property
    def _all_views(self) -> tuple[FeatureView | OnDemandFeatureView, ...]:
        return (*self.views, *self.on_demand)

    @property
    def join_keys(self) -> tuple[str, ...]:
        """The entity columns a request or event must carry, in order, each once."""
        keys = (k for view in self.views for k in view.entity.join_keys)
        return tuple(dict.fromkeys(keys))

    @property
    def request_inputs(self) -> tuple[str, ...]:
        """Fields the on-demand features read from the request, not from a view."""
        produced = set(self.features)
        needed = (i for odf in self.on_demand for i in odf.inputs if i not in produced)
        return tuple(dict.fromkeys(needed))

    @property
    def version(self) -> str:
        return _digest(
            {
                "name": self.name,
                "views": [v.definition() for v in self.views],
                "on_demand": [v.definition() for v in self.on_demand],
            }
        )

    def add_on_demand(self, row: dict[str, Any]) -> dict[str, Any]:
        """`row` (views' features and request fields) with the on-demand features added,
        in declaration order, so one on-demand view may read another's output."""
        for odf in self.on_demand:
            row.update(odf.apply(row))
        return row


def _code(function: Callable[..., Any] | None) -> dict[str, str] | None:
    """What a definition records of a function: its name and a hash of its source text."""
    if function is None:
        return None
    try:
        text = inspect.getsource(function).encode()
    except (OSError, TypeError):  # defined in a REPL: the bytecode is all there is
        text = marshal.dumps(function.__code__)
    name = getattr(function, "__qualname__", repr(function))
    return {"name": name, "source_sha256": hashlib.sha256(text).hexdigest()[:12]}


def _digest(body: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:12]
