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

    import pandas as pd

    from prodml.data import Contract, IngestResult, Source
    from prodml.features.online import OnlineStore
    from prodml.monitor.alerts import AlertEvent
    from prodml.monitor.compare import FeatureDrift
    from prodml.monitor.reference import Reference
    from prodml.monitor.run import MonitorRun
    from prodml.predlog import PredictionLog
    from prodml.registry import ModelRegistry
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

        return ingest(
            source,
            contract,
            metadata=self.metadata,
            artifacts=self.artifacts,
            clock=self.clock,
            **options,
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

        return ModelRegistry(self.tracking_uri, self.state_dir / "cache" / "models")

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
    ) -> str:
        """Build a registered version's drift reference from its training rows, once, and
        keep it in the artifact store; returns where. The version's own scores of those
        rows join them as `prediction`, the reference for prediction drift. A classifier
        given `holdout` rows with their `label` (rows it did not fit on) also gets the
        calibration label-free performance estimation needs, and the group metrics of
        its decisions (at 0.5, as served) for each `sensitive` attribute."""
        import dataclasses

        from prodml.monitor.estimate import fit_estimator
        from prodml.monitor.fairness import group_metrics
        from prodml.monitor.reference import Reference
        from prodml.monitor.traffic import PREDICTION

        _, model = self.registry.load(f"{name}/{version}")
        scored = rows[list(features)].assign(**{PREDICTION: model.predict_frame(rows)})
        reference = Reference.from_frame(scored, [*features, PREDICTION])
        if (
            holdout is not None
            and label is not None
            and model.task == "classification"
            and holdout[label].nunique() == 2  # CBPE calibrates on both classes
        ):
            score = model.predict_frame(holdout)
            decided = holdout.assign(_decision=(score >= 0.5).astype(float))
            reference = dataclasses.replace(
                reference,
                estimator=fit_estimator(score, holdout[label]),
                fairness=group_metrics(
                    decided, label=label, decision="_decision", sensitive=sensitive
                )
                or None,
            )
        return self.artifacts.put_bytes(_reference_key(name, version), reference.to_bytes()).uri

    def reference(self, name: str, version: str) -> Reference:
        """The drift reference saved for `name` version `version` (see `save_reference`)."""
        from prodml.errors import NotFoundError
        from prodml.monitor.reference import Reference

        try:
            data = self.artifacts.get_bytes(_reference_key(name, version))
        except NotFoundError as exc:
            raise NotFoundError(
                f"No drift reference for {name} version {version}: references are built when "
                "`prodml train` registers a version. Train again to register one with its "
                "reference, or call Workspace.save_reference with its training rows."
            ) from exc
        return Reference.from_bytes(data)

    def monitor(
        self, name: str, *, freq: str | None = None, rows: int | None = None
    ) -> tuple[MonitorRun, list[AlertEvent]]:
        """One monitoring pass over model `name`'s prediction log, as `prodml monitor run`
        does it: findings for what is due (see `monitor.run`), then the alert rules of
        `monitoring` in settings, notified where `monitoring.notify` says."""
        from prodml.monitor.alerts import evaluate_alerts
        from prodml.monitor.notify import Notifier
        from prodml.monitor.run import monitor_traffic

        settings = self.settings.monitoring
        if freq or rows:  # the command line's window wins over the settings'
            settings = settings.model_copy(update={"freq": freq or settings.freq, "rows": rows})
        notifier = Notifier(settings.notify)  # a bad URL fails before any work is done
        log = self.prediction_log(name)
        if not log.folder.exists():
            from prodml.errors import NotFoundError

            raise NotFoundError(
                f"No prediction log for {name!r} at {log.folder}: serve or batch-score it first."
            )
        now = self.clock.now()
        run = monitor_traffic(
            name,
            log.read(),
            lambda version: self.reference(name, version),
            self.metadata,
            now=now,
            settings=settings,
        )
        events = evaluate_alerts(name, settings.rules, self.metadata, notifier, now=now)
        return run, events

    def compare_windows(
        self,
        name: str,
        baseline: tuple[datetime, datetime],
        window: tuple[datetime, datetime],
        *,
        log: str | None = None,
    ) -> list[FeatureDrift]:
        """Drift of the traffic in `window` against the traffic in `baseline` (each a
        [start, end) of the log's times): any chosen window as the reference, feature by
        feature and for the prediction. Nothing is recorded."""
        import pandas as pd

        from prodml.errors import DataValidationError
        from prodml.monitor.compare import compare
        from prodml.monitor.reference import Reference
        from prodml.monitor.traffic import META, PREDICTION, between, traffic_frame

        traffic = traffic_frame(self.prediction_log(log or name).read())

        def rows(span: tuple[datetime, datetime], what: str) -> pd.DataFrame:
            start, end = (pd.Timestamp(t).tz_convert("UTC") for t in span)
            found = between(traffic, start, end)
            if found.empty:
                raise DataValidationError(
                    f"The {what} {start:%Y-%m-%d %H:%M} – {end:%Y-%m-%d %H:%M} UTC holds no "
                    f"logged prediction of {name!r}; the log runs from "
                    f"{traffic['timestamp'].min()} to {traffic['timestamp'].max()}."
                )
            return found

        before, after = rows(baseline, "baseline"), rows(window, "window")
        features = [c for c in traffic.columns if c not in META or c == PREDICTION]
        return compare(Reference.from_frame(before, features, sample_rows=0), after)

    def monitoring_report(
        self, name: str, path: Path, *, log: str | None = None, records: pd.DataFrame | None = None
    ) -> Path:
        """Write `prodml monitor report`'s HTML for model `name` to `path`: its findings and
        alerts, and the newest window of its prediction log (`log`, default: `name`; or
        the log's `records`, already read) against that version's reference."""

        from prodml.errors import NotFoundError
        from prodml.monitor.report import render_report
        from prodml.monitor.traffic import between, traffic_frame

        findings = self.metadata.list_findings(model_name=name)
        if not findings:
            raise NotFoundError(
                f"No findings for {name!r} yet: run `prodml monitor run {name}` first."
            )
        newest = max(findings, key=lambda f: (f.window_start, f.model_version))
        if records is None:
            records = self.prediction_log(log or name).read()
        current = None
        if not records.empty:
            traffic = traffic_frame(records)
            answered = between(traffic, newest.window_start, newest.window_end)
            current = answered[answered["version"] == newest.model_version]
        html = render_report(
            name,
            findings,
            self.metadata.list_alerts(model_name=name),
            reference=self.reference(name, newest.model_version),
            current=current,
            generated_at=self.clock.now(),
            timezone=self.settings.monitoring.timezone,
        )
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(html, encoding="utf-8")
        return path

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

        compile_trees = self.settings.serving.compile_trees
        first = self.predictor(ref, coverage=coverage, compile_trees=compile_trees)
        if not (follow and "@" in ref):
            return Deployment(first)
        return Deployment(
            first,
            resolve=lambda: self.registry.resolve(ref).version,
            load=lambda version: self.predictor(
                f"{first.info.name}/{version}", coverage=coverage, compile_trees=compile_trees
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


def _reference_key(name: str, version: str) -> str:
    return f"references/{name}/{version}.npz"
