"""The feature registry: definitions applied from a Python file, versioned by content.

`prodml features apply` imports the project's `features.py`, finds every `FeatureView` and
`FeatureService` in it, and records what changed. Changing a view that a registered model
was trained on is refused (it would silently change what that model is served) unless
forced; the message names the models.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from prodml.errors import ConfigError, NotFoundError
from prodml.features.definitions import Entity, FeatureService, FeatureView
from prodml.store import MetadataStore

VIEW, SERVICE = "view", "service"


@dataclass
class ApplyResult:
    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)


def load_definitions(path: Path) -> tuple[list[FeatureView], list[FeatureService]]:
    """Every feature view and service defined at the top level of the Python file `path`
    (views used by a service count even if not named on their own)."""
    if not path.exists():
        raise ConfigError(f"{path}: no such file. Define your entities, views and services there.")
    spec = importlib.util.spec_from_file_location(f"prodml_features_{path.stem}", path)
    if spec is None or spec.loader is None:
        raise ConfigError(f"{path}: not an importable Python file.")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:  # the user's code: say where it failed
        raise ConfigError(f"{path}: failed to import ({type(exc).__name__}: {exc}).") from exc
    objects = list(vars(module).values())
    services = [o for o in objects if isinstance(o, FeatureService)]
    views = {o.name: o for o in objects if isinstance(o, FeatureView)}
    for service in services:
        for view in service.views:
            views.setdefault(view.name, view)
    return list(views.values()), services


def apply(
    metadata: MetadataStore,
    views: Iterable[FeatureView],
    services: Iterable[FeatureService],
    *,
    now: datetime,
    models_using: Callable[[str], list[str]] = lambda service: [],
    force: bool = False,
) -> ApplyResult:
    """Record the definitions; refuse to change a view a registered model uses unless
    `force`. `models_using(service_name)` lists the model versions trained on a service."""
    views, services = list(views), list(services)
    applied_views = metadata.feature_definitions(VIEW)
    applied_services = metadata.feature_definitions(SERVICE)
    result = ApplyResult()
    changed_views = set()
    for view in views:
        before = applied_views.get(view.name)
        if before is None:
            result.added.append(f"view {view.name}")
        elif before[0] != view.version:
            result.changed.append(f"view {view.name}")
            changed_views.add(view.name)
        else:
            result.unchanged.append(f"view {view.name}")
    if changed_views and not force:
        _refuse_if_used(changed_views, applied_services, services, models_using)
    for service in services:
        before = applied_services.get(service.name)
        bucket = (
            result.added
            if before is None
            else result.changed
            if before[0] != service.version
            else result.unchanged
        )
        bucket.append(f"service {service.name}")
    metadata.apply_feature_definitions(
        VIEW, {v.name: (v.version, v.definition()) for v in views}, now
    )
    metadata.apply_feature_definitions(
        SERVICE,
        {s.name: (s.version, {"views": [v.name for v in s.views]}) for s in services},
        now,
    )
    return result


def _refuse_if_used(
    changed: set[str],
    applied_services: dict[str, tuple[str, dict[str, Any]]],
    services: list[FeatureService],
    models_using: Callable[[str], list[str]],
) -> None:
    containing = {
        name for name, (_, body) in applied_services.items() if changed & set(body["views"])
    }
    containing |= {s.name for s in services if changed & {v.name for v in s.views}}
    users = {service: models_using(service) for service in sorted(containing)}
    blocked = {service: models for service, models in users.items() if models}
    if blocked:
        detail = "; ".join(f"service {s} is used by {', '.join(m)}" for s, m in blocked.items())
        raise ConfigError(
            f"Refusing to change feature view(s) {', '.join(sorted(changed))}: {detail}. Those "
            "models would be served different features than they were trained on. Give the "
            "changed view a new name, or pass --force if you mean it."
        )


def load_service(metadata: MetadataStore, name: str, *, root: Path | None = None) -> FeatureService:
    """A registered feature service, rebuilt from its recorded definitions; relative view
    sources are read from `root` (the project folder), wherever the command runs."""
    services = metadata.feature_definitions(SERVICE)
    if name not in services:
        raise NotFoundError(
            f"No feature service {name!r} is registered; see `prodml features list`."
        )
    views = metadata.feature_definitions(VIEW)
    names = services[name][1]["views"]
    return FeatureService(name, views=tuple(_view(views[v][1], root) for v in names))


def _view(body: dict[str, Any], root: Path | None) -> FeatureView:
    ttl = body["ttl_seconds"]
    source = body["source"]
    if root is not None and "://" not in source and not Path(source).is_absolute():
        source = str(root / source)
    return FeatureView(
        body["name"],
        entity=Entity(body["entity"]["name"], join_keys=tuple(body["entity"]["join_keys"])),
        source=source,
        timestamp=body["timestamp"],
        features=tuple(body["features"]),
        ttl=None if ttl is None else timedelta(seconds=ttl),
        created_timestamp=body["created_timestamp"],
    )
