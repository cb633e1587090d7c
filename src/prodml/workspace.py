"""The workspace: the one object a user opens, handing work to the stores behind it.

Each store is opened on first use, and the heavy parts (MLflow, scikit-learn) are imported
only then, so a data command neither waits for them nor fails on a bad tracking URI.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from prodml.clock import Clock, SystemClock
from prodml.settings import Settings, load_settings
from prodml.store import ArtifactStore, MetadataStore

if TYPE_CHECKING:
    from datetime import datetime

    import numpy as np
    import pandas as pd

    from prodml.data import Contract, IngestResult, Source
    from prodml.features.online import OnlineStore
    from prodml.govern import AuditLog, Guard, Tokens
    from prodml.govern.oversight import Overrides
    from prodml.govern.privacy import Redactor
    from prodml.monitor.alerts import AlertEvent
    from prodml.monitor.compare import FeatureDrift
    from prodml.monitor.explain import Explainer
    from prodml.monitor.reference import Reference
    from prodml.monitor.run import MonitorRun
    from prodml.predlog import PredictionLog
    from prodml.registry import ModelRegistry
    from prodml.rollout import Rollouts
    from prodml.rollout.analysis import Analysis
    from prodml.serve import Deployment, Predictor
    from prodml.store.records import SnapshotRecord
    from prodml.train.tracking import Tracker


class Workspace:
    """All state of one project, as configured by its settings.

    >>> with Workspace.open("/tmp/my-project") as ws:  # doctest: +SKIP
    ...     ws.metadata.list_snapshots()
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

    def ingest(self, source: Source, contract: Contract, **options: Any) -> IngestResult:
        """Validate `source` against `contract` and keep it as a snapshot (see data.ingest)."""
        from prodml.data.results import unchanged

        if not options.get("parents") and (earlier := unchanged(source, contract, self.metadata)):
            return earlier  # answered without importing the validation machinery
        from prodml.data.ingest import ingest

        result = ingest(
            source,
            contract,
            metadata=self.metadata,
            artifacts=self.artifacts,
            clock=self.clock,
            **options,
        )
        if result.created:
            snapshot = result.snapshot
            self._record_contract_change(contract, snapshot)
            self.audit.record(
                None,
                "data.ingest",
                f"snapshot/{snapshot.id[:12]}",
                f"{snapshot.num_rows:,} rows of {snapshot.source} under contract "
                f"{contract.name} {contract.version[:12]}",
                {"rows": snapshot.num_rows, "quarantined": snapshot.quarantined_rows},
            )
        return result

    def _record_contract_change(self, contract: Contract, kept: SnapshotRecord) -> None:
        """An audit event when `contract` differs from the one the previous snapshot of
        its name was kept under (contracts are files people edit: the change is seen
        when it is first used)."""
        earlier = [
            s
            for s in self.metadata.list_snapshots()
            if s.id != kept.id and s.lineage.get("contract") == contract.name
        ]
        if not earlier:
            return
        before = max(earlier, key=lambda s: s.created_at).contract_version
        if before and before != contract.version:
            self.audit.record(
                None,
                "contract.change",
                f"contract/{contract.name}",
                f"version {before[:12]} → {contract.version[:12]}, first used for snapshot "
                f"{kept.id[:12]}",
                {"from": before, "to": contract.version},
            )

    def snapshot(self, name: str) -> SnapshotRecord:
        """The newest snapshot of `name`: its contract's name, or its file's name without
        the extension (`orders` for exports/orders.csv)."""
        from prodml.errors import NotFoundError

        for found in self.metadata.list_snapshots():  # newest first
            if name in (found.lineage.get("contract"), Path(found.source).name.split(".")[0]):
                return found
        raise NotFoundError(
            f"No snapshot of {name!r} has been ingested: run `prodml data ingest FILE -c "
            "CONTRACT` first (`prodml data list` shows what there is)."
        )

    def read_snapshot(self, snapshot_id: str) -> pd.DataFrame:
        """The rows of a snapshot (a unique id prefix will do), hash-checked."""
        from prodml.data.snapshots import read_snapshot

        return read_snapshot(self.metadata.get_snapshot(snapshot_id), self.artifacts)

    @cached_property
    def tracker(self) -> Tracker:
        from prodml.train.tracking import Tracker

        store = self.artifacts
        location = Path(store.root, "mlflow").as_uri() if store.is_local else f"{store.url}/mlflow"
        return Tracker(self.tracking_uri, location, self.clock, code_dir=self.project_dir)

    @cached_property
    def registry(self) -> ModelRegistry:
        from prodml.registry import ModelRegistry

        return ModelRegistry(self.tracking_uri, self.state_dir / "cache" / "models", self.audit)

    @cached_property
    def audit(self) -> AuditLog:
        """The tamper-evident record of every write (`prodml audit`)."""
        from prodml.govern import AuditLog

        settings = self.settings.governance
        key = settings.audit_key.get_secret_value().encode() if settings.audit_key else None
        anchors = settings.anchors or self.state_dir / "audit" / "anchors.jsonl"
        return AuditLog(self.metadata, self.clock, anchors, key)

    @cached_property
    def tokens(self) -> Tokens:
        """API tokens and their roles (`prodml auth token`)."""
        from prodml.govern import Tokens

        return Tokens(self.metadata, self.audit, self.clock)

    @cached_property
    def redactor(self) -> Redactor:
        """Keyed hashes of personal data, under `governance.pii_key` (else this
        workspace's own key, made on first use)."""
        from prodml.govern.privacy import Redactor, workspace_key

        secret = self.settings.governance.pii_key
        configured = secret.get_secret_value() if secret else None
        return Redactor(workspace_key(configured, self.state_dir))

    @cached_property
    def overrides(self) -> Overrides:
        """A person's decisions replacing the model's (`POST /v1/override`)."""
        from prodml.govern.oversight import Overrides

        return Overrides(self.metadata, self.audit, self.clock)

    @cached_property
    def guard(self) -> Guard:
        """The token check of this workspace's servers: a token is re-checked every
        serving.poll_seconds, failures are limited per client (governance.max_failures)."""
        from prodml.govern import Guard

        return Guard(
            self.tokens,
            cache_seconds=self.settings.serving.poll_seconds,
            max_failures=self.settings.governance.max_failures,
        )

    @cached_property
    def rollouts(self) -> Rollouts:
        """Deployments and their traffic policies (`prodml deploy`)."""
        from prodml.rollout import Rollouts

        return Rollouts(self.metadata, self.registry, self.clock, self.audit)

    @cached_property
    def analysis(self) -> Analysis:
        """The rollout analysis (`prodml deploy tick|watch`), on this workspace's logs."""
        from prodml.rollout.analysis import Analysis

        return Analysis(
            self.rollouts,
            lambda model, since: self.prediction_log(model).read(since=since),
            self.reference_or_none,
            self.settings.rollouts,
        )

    @cached_property
    def online_store(self) -> OnlineStore:
        from prodml.features.online import open_online_store

        return open_online_store(self._url(self.settings.online_store_url))

    @property
    def tracking_uri(self) -> str:
        return self._url(self.settings.tracking_uri)

    def save_reference(
        self,
        name: str,
        version: str,
        rows: pd.DataFrame,
        features: Sequence[str],
        *,
        holdout: pd.DataFrame | None = None,
        label: str | None = None,
        sensitive: Sequence[str] = (),
        holdout_score: np.ndarray | None = None,
    ) -> str:
        """Build a registered version's drift reference from its training rows, once, and
        keep it in the artifact store; returns where (see `Reference.build`)."""
        from prodml.monitor.reference import Reference, reference_key

        _, model = self.registry.load(f"{name}/{version}")
        built = Reference.build(
            model,
            rows,
            features,
            holdout=holdout,
            label=label,
            sensitive=sensitive,
            holdout_score=holdout_score,
        )
        return self.artifacts.put_bytes(reference_key(name, version), built.to_bytes()).uri

    def reference(self, name: str, version: str) -> Reference:
        """The drift reference saved for `name` version `version` (see `save_reference`)."""
        from prodml.monitor.reference import load_reference

        return load_reference(self.artifacts, name, version)

    def reference_or_none(self, name: str, version: str) -> Reference | None:
        """`reference`, or None for a version registered without one (the checks that
        need it then abstain rather than fail)."""
        from prodml.errors import NotFoundError

        try:
            return self.reference(name, version)
        except NotFoundError:
            return None

    def monitor(
        self, name: str, *, freq: str | None = None, rows: int | None = None
    ) -> tuple[MonitorRun, list[AlertEvent]]:
        """One monitoring pass over model `name`'s prediction log, as `prodml monitor run`
        does it (see `monitor.run.monitor_and_alert`); `freq` or `rows` override the
        settings' window."""
        from prodml.monitor.run import monitor_and_alert

        settings = self.settings.monitoring
        if freq or rows:  # the command line's window wins over the settings'
            settings = settings.model_copy(update={"freq": freq or settings.freq, "rows": rows})
        return monitor_and_alert(
            name,
            self.prediction_log(name),
            lambda version: self.reference(name, version),
            self.metadata,
            now=self.clock.now(),
            settings=settings,
            explainer_of=lambda version: self.explainer(name, version),
        )

    def explainer(self, name: str, version: str) -> Explainer | None:
        """Feature importance shares of version `version` of `name` on rows of its
        features (see `monitor.explain`); None for a flavor that cannot explain."""
        from prodml.monitor.explain import explainer

        return explainer(self.registry.load(f"{name}/{version}")[1])

    def compare_windows(
        self,
        name: str,
        baseline: tuple[datetime, datetime],
        window: tuple[datetime, datetime],
        *,
        log: str | None = None,
    ) -> list[FeatureDrift]:
        """Drift of the traffic in `window` against the traffic in `baseline` (each a
        [start, end) of the log's times); nothing is recorded (see `compare_spans`)."""
        from prodml.monitor.compare import compare_spans

        return compare_spans(self.prediction_log(log or name).read(), baseline, window, name)

    def monitoring_report(
        self, name: str, path: Path, *, log: str | None = None, records: pd.DataFrame | None = None
    ) -> Path:
        """Write `prodml monitor report`'s HTML for model `name` to `path` (see
        `monitor.report.write_report`); the log is `log` (default: `name`), or its
        `records`, already read."""
        from prodml.monitor.report import write_report

        return write_report(
            name,
            path,
            self.metadata,
            lambda version: self.reference(name, version),
            self.prediction_log(log or name).read() if records is None else records,
            now=self.clock.now(),
            timezone=self.settings.monitoring.timezone,
        )

    def prediction_log(self, deployment: str) -> PredictionLog:
        from prodml.predlog import PredictionLog

        return PredictionLog(self.state_dir / "predictions" / deployment)

    def predictor(
        self, ref: str, *, coverage: float | None = None, compile_trees: bool = False
    ) -> Predictor:
        """A registered version ready to answer, enriched from the online store when it
        was trained on a feature service; with `compile_trees`, its trees are compiled in
        the background for the one-row path (see `serve.compiled`)."""
        from prodml.serve import Predictor
        from prodml.serve.enrich import Enricher

        info, model = self.registry.load(ref)
        enricher = None
        if info.feature_service:
            from prodml.features.registry import load_service

            service = load_service(self.metadata, info.feature_service, root=self.project_dir)
            enricher = Enricher(self.online_store, service, self.clock)
        serving = self.settings.serving
        predictor = Predictor(
            model,
            info,
            coverage=coverage or serving.coverage,
            enricher=enricher,
            max_batch_rows=serving.max_batch_rows,
            redactor=self.redactor,
        )
        if compile_trees:
            predictor.compile_in_background(self.state_dir / "compiled")
        return predictor

    def deployment(
        self, ref: str, *, coverage: float | None = None, follow: bool = True
    ) -> Deployment:
        """What a server answers with; served by alias (NAME@ALIAS) and with `follow`, it
        hot-swaps to each version the alias moves to."""
        from prodml.serve import Deployment
        from prodml.serve.policy import Policy

        compile_trees = self.settings.serving.compile_trees
        first = self.predictor(ref, coverage=coverage, compile_trees=compile_trees)
        if not (follow and "@" in ref):
            return Deployment(first)
        name = first.info.name
        return Deployment(
            first,
            resolve=lambda: Policy.single(name, self.registry.resolve(ref).version),
            load=lambda version: self.predictor(
                f"{name}/{version}", coverage=coverage, compile_trees=compile_trees
            ),
            poll_seconds=self.settings.serving.poll_seconds,
        )

    def follow_deployment(self, name: str, *, coverage: float | None = None) -> Deployment:
        """What a server of deployment `name` answers with: its traffic policy as the
        metadata store holds it, followed as it changes (`prodml deploy`)."""
        from prodml.serve import Deployment
        from prodml.serve.policy import Policy

        def resolve() -> Policy:
            return self.rollouts.status(name)[1]

        compile_trees = self.settings.serving.compile_trees
        model = resolve().model
        return Deployment.of_policy(
            name,
            resolve,
            lambda version: self.predictor(
                f"{model}/{version}", coverage=coverage, compile_trees=compile_trees
            ),
            poll_seconds=self.settings.serving.poll_seconds,
        )

    def __enter__(self) -> Workspace:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the stores opened so far (the others were never opened)."""
        if "metadata" in self.__dict__:
            self.metadata.close()
        if "online_store" in self.__dict__:
            self.online_store.close()

    def _url(self, value: str | None) -> str:
        if value is None:  # load_settings fills every URL; a hand-built Settings may not
            raise ValueError("Build settings with prodml.settings.load_settings().")
        return value
