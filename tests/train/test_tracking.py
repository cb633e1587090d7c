"""Runs record what they read and the environment they ran in, on SQLite and PostgreSQL."""

from datetime import UTC, datetime

import mlflow
import pytest

from prodml.clock import SimulatedClock
from prodml.store.records import SnapshotRecord
from prodml.train.environment import environment_digest, installed_packages
from prodml.train.tracking import Tracker


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def tracking_uri(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'mlflow.db'}"
    return request.getfixturevalue("postgres_url")


def test_snapshots_are_logged_as_mlflow_inputs_with_their_full_content_id(tmp_path, tracking_uri):
    clock = SimulatedClock(datetime(2024, 1, 1, tzinfo=UTC))
    tracker = Tracker(tracking_uri, str(tmp_path / "artifacts"), clock)
    snap = SnapshotRecord(
        id="ab" * 32,
        source="exports/flights.parquet",
        created_at=clock.now(),
        num_rows=10,
        num_columns=3,
        uri="file:///tmp/s.parquet",
    )
    with tracker.run("candidate") as run_id:
        tracker.log_inputs(run_id, {"flights": snap})
    run = mlflow.MlflowClient(tracking_uri).get_run(run_id)
    (logged,) = run.inputs.dataset_inputs
    assert logged.dataset.name == "flights"
    assert snap.id.startswith(logged.dataset.digest)
    assert snap.id in logged.dataset.source
    assert [t.value for t in logged.tags] == ["training"]
    assert run.data.tags["prodml.environment"] == environment_digest()
    assert any(p.startswith("mlflow==") for p in installed_packages())


@pytest.mark.parametrize(
    "uri", ["postgresql+psycopg://nobody@127.0.0.1:1/mlflow", "http://127.0.0.1:1"]
)
def test_an_unreachable_tracking_store_is_reported_at_once(tmp_path, uri):
    from prodml.errors import StoreUnavailableError
    from prodml.registry import ModelRegistry

    # "while connecting" is our own check, made before MLflow (which retries for minutes).
    with pytest.raises(
        StoreUnavailableError, match=r"store at .* while connecting: .*Check `tracking_uri`"
    ):
        Tracker(uri, str(tmp_path), SimulatedClock(datetime(2024, 1, 1, tzinfo=UTC)))
    with pytest.raises(StoreUnavailableError, match="while connecting"):
        ModelRegistry(uri, tmp_path)
