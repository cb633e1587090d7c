"""The workspace: the one object a user opens, handing work to the stores behind it.

Each store is opened on first use, so `prodml status` does not start MLflow and a
bad tracking URI does not stop a data command.
"""

from __future__ import annotations

import os
from functools import cached_property
from pathlib import Path

from prodml.clock import Clock, SystemClock
from prodml.data.snapshots import SnapshotWriter
from prodml.registry import ModelRegistry
from prodml.serve.predlog import PredictionLog
from prodml.settings import Settings, load_settings
from prodml.store import ArtifactStore, MetadataStore
from prodml.train.tracking import Tracker


class Workspace:
    """All state of one project, as configured by its settings.

    >>> ws = Workspace.open("/tmp/my-project")  # doctest: +SKIP
    >>> ws.metadata.list_snapshots()  # doctest: +SKIP
    """

    def __init__(
        self, settings: Settings, clock: Clock | None = None, project_dir: Path | None = None
    ) -> None:
        self.settings = settings
        self.clock: Clock = clock or SystemClock()
        self.project_dir = project_dir or Path.cwd()

    @classmethod
    def open(
        cls, project_dir: str | os.PathLike[str] = ".", clock: Clock | None = None
    ) -> Workspace:
        return cls(load_settings(project_dir), clock, Path(project_dir).resolve())

    @property
    def state_dir(self) -> Path:
        return self.settings.state_dir

    @cached_property
    def metadata(self) -> MetadataStore:
        return MetadataStore(self._url(self.settings.metadata_url))

    @cached_property
    def artifacts(self) -> ArtifactStore:
        return ArtifactStore(self._url(self.settings.artifacts_url))

    @cached_property
    def snapshots(self) -> SnapshotWriter:
        return SnapshotWriter(self.metadata, self.artifacts, self.clock)

    @cached_property
    def tracker(self) -> Tracker:
        store = self.artifacts
        location = Path(store.root, "mlflow").as_uri() if store.is_local else f"{store.url}/mlflow"
        return Tracker(self.tracking_uri, location, self.clock, code_dir=self.project_dir)

    @cached_property
    def registry(self) -> ModelRegistry:
        return ModelRegistry(self.tracking_uri, self.state_dir / "cache" / "models")

    @property
    def tracking_uri(self) -> str:
        return self._url(self.settings.tracking_uri)

    def prediction_log(self, deployment: str) -> PredictionLog:
        return PredictionLog(self.state_dir / "predictions" / deployment)

    def close(self) -> None:
        if "metadata" in self.__dict__:
            self.metadata.close()

    def _url(self, value: str | None) -> str:
        if value is None:  # load_settings fills every URL; a hand-built Settings may not
            raise ValueError("Build settings with prodml.settings.load_settings().")
        return value
