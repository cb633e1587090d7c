"""The feature registry: definitions applied from a Python file, versioned by content.

`prodml features apply` imports the project's `features.py`, finds every `FeatureView` and
`FeatureService` in it, and records what changed. Changing a view that a registered model
was trained on is refused (it would silently change what that model is served) unless
forced; the message names the models.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from prodml.errors import ConfigError, NotFoundError
from prodml.features.definitions import FeatureService, FeatureView
from prodml.govern import AuditLog
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
    file: Path,
    models_using: Callable[[str], list[str]] = lambda service: [],
    force: bool = False,
    audit: AuditLog | None = None,
) -> ApplyResult:
    """Record the definitions from `file`; refuse to change a view a registered model uses
    unless `force`. `models_using(service_name)` lists the model versions trained on a
    service. The file is recorded too: code (transformations, on-demand features) cannot be
    stored as data, so `load_service` imports it again and checks it is unchanged."""
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
        {
            s.name: (
                s.version,
                {
                    "views": [v.name for v in s.views],
                    "on_demand": [odf.definition() for odf in s.on_demand],
                    "file": str(file.resolve()),
                },
            )
            for s in services
        },
        now,
    )
    if audit is not None and (result.added or result.changed):
        what = {"added": result.added, "changed": result.changed}
        why = f"{len(result.added)} added, {len(result.changed)} changed" + " (forced)" * force
        audit.record(None, "features.apply", f"features/{file.name}", why, what)
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
    """A registered feature service, imported again from the file it was applied from and
    checked to be exactly what was applied; relative view sources are read from `root`
    (the project folder), wherever the command runs."""
    services = metadata.feature_definitions(SERVICE)
    if name not in services:
        raise NotFoundError(
            f"No feature service {name!r} is registered; see `prodml features list`."
        )
    version, body = services[name]
    file = Path(body["file"])
    _, loaded = load_definitions(file)
    found = {s.name: s for s in loaded}.get(name)
    if found is None or found.version != version:
        what = "no longer defines it" if found is None else "has changed since it was applied"
        raise ConfigError(
            f"Feature service {name!r} was applied from {file}, which {what}. Run "
            f"`prodml features apply {file}` to register the current definitions."
        )
    return found if root is None else resolve_sources(found, root)


def resolve_sources(service: FeatureService, root: Path) -> FeatureService:
    """`service` with each relative view source made absolute under `root`."""

    def resolved(view: FeatureView) -> FeatureView:
        if "://" in view.source or Path(view.source).is_absolute():
            return view
        return dataclasses.replace(view, source=str(root / view.source))

    return dataclasses.replace(service, views=tuple(resolved(v) for v in service.views))
