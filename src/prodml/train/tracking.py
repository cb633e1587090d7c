"""Experiment tracking in MLflow: one run per model, nested under its pipeline run.

We talk to MLflow through `MlflowClient` with an explicit tracking URI, never the
process-global fluent API, so two workspaces in one process cannot cross-talk.
"""

from __future__ import annotations

import json
import logging
import math
import os
import subprocess
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import Any

import httpx
from mlflow import MlflowClient
from mlflow.entities import Dataset, DatasetInput, InputTag, Metric, Param, Run, RunTag
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import RESOURCE_DOES_NOT_EXIST, ErrorCode
from mlflow.utils.mlflow_tags import (
    MLFLOW_DATASET_CONTEXT,
    MLFLOW_GIT_COMMIT,
    MLFLOW_PARENT_RUN_ID,
)
from sqlalchemy import create_engine
from sqlalchemy.exc import SQLAlchemyError

from prodml.clock import Clock
from prodml.errors import NotFoundError, StoreUnavailableError
from prodml.store.records import SnapshotRecord
from prodml.train.environment import environment_digest

EXPERIMENT = "prodml"
ENVIRONMENT_TAG = "prodml.environment"  # hash of the installed packages
FEATURE_SERVICE_TAG = "prodml.feature_service"  # the service a model was trained on

# MLflow draws a progress bar per artifact download; prodml shows its own progress.
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
# MLflow logs every schema migration of a new tracking database at INFO.
for _name in ("alembic", "mlflow.store", "mlflow.tracking"):
    logging.getLogger(_name).setLevel(logging.WARNING)


class Tracker:
    """Creates runs in one MLflow experiment and logs params, metrics and artifacts."""

    def __init__(
        self,
        tracking_uri: str,
        artifact_location: str,
        clock: Clock,
        *,
        code_dir: Path | None = None,
        experiment: str = EXPERIMENT,
    ) -> None:
        self.tracking_uri = tracking_uri
        self.clock = clock
        self.code_dir = code_dir  # whose git commit a run records
        check_reachable(tracking_uri)
        with mlflow_errors(tracking_uri, "opening the experiment"):
            self.client = MlflowClient(tracking_uri=tracking_uri)
            found = self.client.get_experiment_by_name(experiment)
            self.experiment_id = (
                found.experiment_id
                if found is not None
                else self.client.create_experiment(experiment, artifact_location=artifact_location)
            )

    @contextmanager
    def run(
        self, name: str, *, parent_id: str | None = None, tags: Mapping[str, str] | None = None
    ) -> Iterator[str]:
        """Start a run, yield its id, and end it FINISHED (or FAILED on an exception)."""
        all_tags = {
            **git_tags(self.code_dir),
            ENVIRONMENT_TAG: environment_digest(),
            **(tags or {}),
        }
        if parent_id:
            all_tags[MLFLOW_PARENT_RUN_ID] = parent_id
        run = self.client.create_run(
            self.experiment_id, run_name=name, tags=all_tags, start_time=self._millis()
        )
        run_id = run.info.run_id
        try:
            yield run_id
        except BaseException:
            self.client.set_terminated(run_id, "FAILED", end_time=self._millis())
            raise
        self.client.set_terminated(run_id, "FINISHED", end_time=self._millis())

    def log(
        self,
        run_id: str,
        *,
        params: Mapping[str, Any] | None = None,
        metrics: Mapping[str, float] | None = None,
        tags: Mapping[str, str] | None = None,
    ) -> None:
        now = self._millis()
        self.client.log_batch(
            run_id,
            metrics=[
                Metric(k, float(v), now, 0) for k, v in (metrics or {}).items() if math.isfinite(v)
            ],
            params=[Param(k, str(v)[:6000]) for k, v in (params or {}).items()],
            tags=[RunTag(k, str(v)) for k, v in (tags or {}).items()],
        )

    def log_inputs(self, run_id: str, snapshots: Mapping[str, SnapshotRecord]) -> None:
        """Record the snapshots a run read as MLflow dataset inputs (shown in MLflow's UI).

        MLflow keeps at most 36 characters of a digest: that is the start of the snapshot's
        full-content SHA-256, and the whole id is in the dataset's source.
        """
        datasets = [
            DatasetInput(
                Dataset(
                    name=name,
                    digest=snap.id[:36],
                    source_type="prodml-snapshot",
                    source=json.dumps({"snapshot_id": snap.id, "uri": snap.uri}),
                    profile=json.dumps(
                        {"num_rows": snap.num_rows, "num_columns": snap.num_columns}
                    ),
                ),
                tags=[InputTag(MLFLOW_DATASET_CONTEXT, "training")],
            )
            for name, snap in snapshots.items()
        ]
        with mlflow_errors(self.tracking_uri, f"logging the inputs of run {run_id}"):
            self.client.log_inputs(run_id, datasets=datasets)

    def log_json(self, run_id: str, name: str, body: Any) -> None:
        """One JSON document as a run artifact (an evaluation, a pipeline record)."""
        with mlflow_errors(self.tracking_uri, f"logging {name} to run {run_id}"):
            self.client.log_text(run_id, json.dumps(body, indent=2, default=str), name)

    def find_run(self, tag: str, value: str) -> str | None:
        """The id of a finished run of this experiment with `tag` = `value`, if any."""
        with mlflow_errors(self.tracking_uri, f"looking for a run with {tag}={value}"):
            found = self.client.search_runs(
                [self.experiment_id],
                filter_string=f"tags.`{tag}` = '{value}' and attributes.status = 'FINISHED'",
                max_results=1,
            )
        return found[0].info.run_id if found else None

    def log_folder(self, run_id: str, folder: Path, artifact_path: str) -> str:
        """Upload `folder` under `artifact_path` of the run; returns its artifact URI."""
        self.client.log_artifacts(run_id, str(folder), artifact_path)
        return f"{self.client.get_run(run_id).info.artifact_uri}/{artifact_path}"

    def _millis(self) -> int:
        return int(self.clock.now().timestamp() * 1000)


def recent_runs(tracking_uri: str, limit: int, experiment: str = EXPERIMENT) -> list[Run]:
    """The latest runs of `experiment`, newest first; creates nothing if there are none."""
    with mlflow_errors(tracking_uri, "listing runs"):
        client = MlflowClient(tracking_uri=tracking_uri)
        found = client.get_experiment_by_name(experiment)
        if found is None:
            return []
        return list(
            client.search_runs(
                [found.experiment_id], order_by=["start_time DESC"], max_results=limit
            )
        )


@contextmanager
def mlflow_errors(tracking_uri: str, doing: str) -> Iterator[None]:
    """Turn MLflow's errors (and those of the database under it) into ours."""
    try:
        yield
    except MlflowException as exc:
        # MLflow reports a missing alias as an invalid parameter, not a missing resource.
        missing_alias = "alias" in exc.message and exc.message.rstrip(".").endswith("not found")
        if exc.error_code == ErrorCode.Name(RESOURCE_DOES_NOT_EXIST) or missing_alias:
            raise NotFoundError(
                f"Not found while {doing}: {exc.message}. Run `prodml status` to see runs, "
                "registered models and their aliases."
            ) from None
        raise _unavailable(tracking_uri, doing, exc.message) from exc
    except SQLAlchemyError as exc:
        raise _unavailable(tracking_uri, doing, str(exc).splitlines()[0]) from exc


@cache
def check_reachable(tracking_uri: str, timeout: float = 5.0) -> None:
    """Fail in seconds, with our message, when the tracking store cannot be reached: MLflow
    itself retries a refused database or server for minutes before giving up."""
    scheme = tracking_uri.split(":", 1)[0].split("+", 1)[0]
    try:
        if scheme in ("http", "https"):
            httpx.get(f"{tracking_uri.rstrip('/')}/health", timeout=timeout).raise_for_status()
        elif scheme in ("postgresql", "mysql", "mssql"):
            engine = create_engine(
                tracking_uri, pool_pre_ping=False, connect_args=_timeout(scheme, timeout)
            )
            try:
                with engine.connect():
                    pass
            finally:
                engine.dispose()
    except (httpx.HTTPError, SQLAlchemyError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise _unavailable(tracking_uri, "connecting", reason) from exc


def _timeout(scheme: str, seconds: float) -> dict[str, Any]:
    return {"connect_timeout": int(seconds)} if scheme in ("postgresql", "mysql") else {}


def _unavailable(tracking_uri: str, doing: str, message: str) -> StoreUnavailableError:
    return StoreUnavailableError(
        f"Cannot use the MLflow tracking store at {tracking_uri} while {doing}: {message}. "
        "Check `tracking_uri` in prodml.yaml (or PRODML_TRACKING_URI)."
    )


def git_tags(cwd: Path | None = None) -> dict[str, str]:
    """The git commit of `cwd` and whether the tree is dirty; empty outside a repository."""
    try:
        commit = _git("rev-parse", "HEAD", cwd=cwd)
        dirty = bool(_git("status", "--porcelain", "--untracked-files=no", cwd=cwd))
    except (OSError, subprocess.CalledProcessError):
        return {}
    return {MLFLOW_GIT_COMMIT: commit, "prodml.git_dirty": str(dirty).lower()}


def _git(*args: str, cwd: Path | None) -> str:
    result = subprocess.run(  # noqa: S603 - fixed arguments, no shell
        ["git", *args],  # noqa: S607 - git from PATH, as a developer runs it
        cwd=cwd,
        capture_output=True,
        text=True,
        check=True,
        timeout=10,
    )
    return result.stdout.strip()
