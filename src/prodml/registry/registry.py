"""Register models in MLflow's registry, move aliases, and load a version safely.

A version is addressed as ``name@alias`` (``churn@champion``), ``name/3`` or
``name`` (its latest version). Loading downloads the version's folder once into a local
cache and verifies every file against its manifest before deserializing anything.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import re
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mlflow import MlflowClient
from mlflow.artifacts import download_artifacts
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException

from prodml.errors import ConfigError, NotFoundError, StateError
from prodml.govern import AuditLog
from prodml.train.model import TrainedModel
from prodml.train.tracking import FEATURE_SERVICE_TAG, check_reachable, mlflow_errors

MODEL_ARTIFACT = "model"
ARCHIVED_TAG = "prodml.archived"  # when a version was retired
# The gate's fairness report (JSON, see `train.fairness`), and an approver's exception to
# it (who, when, why; see `registry.promotion.allow`).
FAIRNESS_TAG = "prodml.fairness"
EXCEPTION_TAG = "prodml.fairness.exception"
# The columns its training contracts tag `pii` (JSON list): never logged in clear.
PII_TAG = "prodml.pii"
RELEASE_ALIASES = ("champion", "challenger")  # what a fairness-blocked version may not be
_ALIAS = re.compile(r"^[\w-]+$")
_REF = re.compile(r"^(?P<name>[\w.-]+)(?:@(?P<alias>[\w-]+)|/(?P<version>\d+))?$")


@dataclass(frozen=True)
class ModelVersionInfo:
    name: str
    version: str
    run_id: str | None
    source: str
    aliases: tuple[str, ...]
    tags: Mapping[str, str] = field(default_factory=dict, compare=False)
    created_at: str = ""  # ISO 8601, UTC

    @property
    def ref(self) -> str:
        return f"{self.name}/{self.version}"

    @property
    def feature_service(self) -> str | None:
        """The feature service the version was trained on, if any: serving enriches
        requests from it."""
        return self.tags.get(FEATURE_SERVICE_TAG)


class ModelRegistry:
    """MLflow's model registry at `tracking_uri`, with a local cache for loaded versions."""

    def __init__(self, tracking_uri: str, cache_dir: Path, audit: AuditLog | None = None) -> None:
        self.tracking_uri = tracking_uri
        self.cache_dir = cache_dir
        self.audit = audit  # where registrations, alias moves and archivings are recorded
        check_reachable(tracking_uri)
        with self._mlflow("opening the model registry"):
            self.client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)

    def register(
        self,
        name: str,
        run_id: str,
        *,
        tags: dict[str, str] | None = None,
        actor: str | None = None,
    ) -> ModelVersionInfo:
        """A new version of `name` from the model folder logged by run `run_id`."""
        with self._mlflow(f"registering run {run_id} as {name}"):
            try:
                self.client.get_registered_model(name)
            except MlflowException:
                # Another process may create it between our two calls: that is fine.
                with contextlib.suppress(MlflowException):
                    self.client.create_registered_model(name)
            source = f"{self.client.get_run(run_id).info.artifact_uri}/{MODEL_ARTIFACT}"
            info = self._info(self.client.create_model_version(name, source, run_id, tags=tags))
        self._record(actor, "model.register", info.ref, f"from run {run_id}", {"run": run_id})
        return info

    def set_alias(
        self, name: str, alias: str, version: str, *, actor: str | None = None, reason: str = ""
    ) -> None:
        with self._mlflow(f"pointing {name}@{alias} at version {version}"):
            self.client.set_registered_model_alias(name, alias, version)
        why = reason or f"{name}@{alias} now points at version {version}"
        self._record(actor, "alias.move", f"{name}@{alias}", why, {"version": version})

    def set_tags(self, name: str, version: str, tags: Mapping[str, str]) -> None:
        with self._mlflow(f"tagging {name}/{version}"):
            for key, value in tags.items():
                self.client.set_model_version_tag(name, version, key, value)

    def promote(
        self, ref: str, alias: str, *, now: datetime, actor: str | None = None, reason: str = ""
    ) -> ModelVersionInfo:
        """Point `alias` (champion, challenger, ...) at the version `ref` names, and record
        when on the version (MLflow keeps no history of aliases)."""
        if not _ALIAS.match(alias):
            raise ConfigError(f"Alias {alias!r} must be letters, digits, _ or - (e.g. champion).")
        info = self.resolve(ref)
        if ARCHIVED_TAG in info.tags:
            raise StateError(
                f"{info.ref} was archived on {info.tags[ARCHIVED_TAG]}; promote another version."
            )
        blocked = json.loads(info.tags.get(FAIRNESS_TAG, "{}"))
        excepted = EXCEPTION_TAG in info.tags
        if alias in RELEASE_ALIASES and blocked.get("passed") is False and not excepted:
            raise StateError(
                f"{info.ref} was blocked by the fairness check: {blocked['reasons'][0]}. "
                f"An approver may grant an exception first: prodml models allow "
                f'{info.ref} --reason "..."'
            )
        self.set_alias(info.name, alias, info.version, actor=actor, reason=reason)
        self.set_tags(info.name, info.version, {f"prodml.promoted.{alias}": now.isoformat()})
        return self.resolve(f"{info.name}/{info.version}")

    def archive(
        self, ref: str, *, now: datetime, force: bool = False, actor: str | None = None
    ) -> ModelVersionInfo:
        """Retire a version: its aliases are removed and it is tagged archived. A version an
        alias still points to is refused unless `force`, since serving may follow it."""
        info = self.resolve(ref)
        if info.aliases and not force:
            raise StateError(
                f"{info.ref} is {', '.join('@' + a for a in info.aliases)}: serving may follow "
                "it. Promote another version first, or pass --force."
            )
        with self._mlflow(f"archiving {info.ref}"):
            for alias in info.aliases:
                self.client.delete_registered_model_alias(info.name, alias)
        self.set_tags(info.name, info.version, {ARCHIVED_TAG: now.isoformat()})
        removed = {"aliases": list(info.aliases)}
        self._record(actor, "model.archive", info.ref, "archived" + " (forced)" * force, removed)
        return self.resolve(f"{info.name}/{info.version}")

    def _record(
        self, actor: str | None, action: str, target: str, reason: str, figures: dict[str, Any]
    ) -> None:
        if self.audit is not None:
            self.audit.record(actor, action, target, reason, figures)

    def resolve(self, ref: str) -> ModelVersionInfo:
        """The version `ref` points to now (aliases move, so resolve at use)."""
        match = _REF.match(ref)
        if not match:
            raise ConfigError(
                f"Model reference {ref!r} is not of the form NAME, NAME@ALIAS or NAME/VERSION "
                "(e.g. churn@champion)."
            )
        name, alias, version = match["name"], match["alias"], match["version"]
        with self._mlflow(f"looking up {ref}"):
            if alias:
                return self._info(self.client.get_model_version_by_alias(name, alias))
            if version:
                return self._info(self.client.get_model_version(name, version))
            versions = self.client.search_model_versions(f"name = '{name}'")
            if not versions:
                raise NotFoundError(
                    f"No versions of model {name!r} in the registry. "
                    "Run `prodml status` to see registered models and their aliases."
                )
            return self._info(max(versions, key=lambda v: int(v.version)))

    def load(self, ref: str) -> tuple[ModelVersionInfo, TrainedModel]:
        info = self.resolve(ref)
        if not info.source:
            raise NotFoundError(f"Model version {info.ref} has no artifact source to load.")
        # Keyed by where the files come from: a recreated "v1" elsewhere is another model.
        origin = hashlib.sha256(f"{self.tracking_uri}|{info.source}".encode()).hexdigest()[:16]
        folder = self.cache_dir / info.name / f"{info.version}-{origin}"
        if not folder.exists():
            self._download(info, folder)
        model = TrainedModel.load(folder, what=f"model {info.name} v{info.version}")
        return info, model

    def find_version(self, name: str, tag: str, value: str) -> ModelVersionInfo | None:
        """A version of `name` tagged `tag` = `value` (e.g. the fit it came from), if any."""
        with self._mlflow(f"looking for a version of {name} with {tag}={value}"):
            found = self.client.search_model_versions(
                f"name = '{name}' and tags.`{tag}` = '{value}'"
            )
        # Search results carry no aliases: read the version itself.
        return self.resolve(f"{name}/{found[0].version}") if found else None

    def versions_using(self, feature_service: str) -> list[str]:
        """Model versions (as name/version) trained on `feature_service`, by their
        `prodml.feature_service` tag."""
        with self._mlflow(f"finding models that use feature service {feature_service}"):
            found = self.client.search_model_versions(
                f"tags.`{FEATURE_SERVICE_TAG}` = '{feature_service}'"
            )
        return sorted(f"{mv.name}/{mv.version}" for mv in found)

    def aliases(self) -> dict[str, str]:
        """Every alias MLflow holds now, as ``{"name@alias": version}``."""
        with self._mlflow("listing aliases"):
            return {
                f"{rm.name}@{alias}": str(version)
                for rm in self.client.search_registered_models()
                for alias, version in (rm.aliases or {}).items()
            }

    def list_versions(self) -> list[ModelVersionInfo]:
        with self._mlflow("listing registered models"):
            found = []
            for rm in self.client.search_registered_models():
                # A version found by search carries no aliases; its model knows them.
                aliases: dict[str, list[str]] = {}
                for alias, version in (rm.aliases or {}).items():
                    aliases.setdefault(str(version), []).append(alias)
                for mv in self.client.search_model_versions(f"name = '{rm.name}'"):
                    info = self._info(mv)
                    found.append(
                        dataclasses.replace(
                            info, aliases=tuple(sorted(aliases.get(info.version, [])))
                        )
                    )
            return found

    def _download(self, info: ModelVersionInfo, folder: Path) -> None:
        folder.parent.mkdir(parents=True, exist_ok=True)
        # A private temporary folder, renamed into place: concurrent loads never collide.
        partial = Path(tempfile.mkdtemp(dir=folder.parent, prefix=".download-"))
        try:
            with self._mlflow(f"downloading model {info.ref} from {info.source}"):
                download_artifacts(artifact_uri=info.source, dst_path=str(partial))
            with contextlib.suppress(OSError):  # another process got there first: use theirs
                (partial / MODEL_ARTIFACT).rename(folder)
        finally:
            shutil.rmtree(partial, ignore_errors=True)

    def _mlflow(self, doing: str) -> contextlib.AbstractContextManager[None]:
        return mlflow_errors(self.tracking_uri, doing)

    def _info(self, mv: ModelVersion) -> ModelVersionInfo:
        # Versions registered by other tools may lack a source; loading them then fails clearly.
        source = mv.source or ""
        created = (
            datetime.fromtimestamp(mv.creation_timestamp / 1000, UTC).isoformat(timespec="seconds")
            if mv.creation_timestamp
            else ""
        )
        return ModelVersionInfo(
            mv.name, str(mv.version), mv.run_id, source, tuple(mv.aliases), dict(mv.tags), created
        )
