"""Twenty registrations of one model name at once: twenty distinct versions, no error,
with MLflow's registry on SQLite and on PostgreSQL."""

import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from functools import partial
from pathlib import Path

import pytest

from prodml.registry import ModelRegistry
from prodml.workspace import Workspace
from tests._data import log_model_run

PROCESSES, THREADS = 4, 5  # twenty registrations from four separate jobs


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def tracking_uri(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'mlflow.db'}"
    return request.getfixturevalue("postgres_url")


def test_twenty_concurrent_registrations_give_twenty_versions(
    tmp_path, tracking_uri, toy_lightgbm, monkeypatch
):
    monkeypatch.setenv("PRODML_TRACKING_URI", tracking_uri)
    ws = Workspace.open(tmp_path)
    run_id = log_model_run(ws, toy_lightgbm)
    ws.close()
    # Fresh processes (no inherited client or database connection), each with its own
    # client in several threads, all released at the same moment once every one is ready.
    start_at = time.time() + 10
    job = partial(_register_many, tracking_uri, tmp_path / "cache", run_id, start_at)
    spawn = multiprocessing.get_context("spawn")
    batches = [list(range(i, PROCESSES * THREADS, PROCESSES)) for i in range(PROCESSES)]
    with ProcessPoolExecutor(max_workers=PROCESSES, mp_context=spawn) as pool:
        versions = [v for batch in pool.map(job, batches) for v in batch]
    assert sorted(map(int, versions)) == list(range(1, PROCESSES * THREADS + 1))


def _register_many(
    tracking_uri: str, cache: Path, run_id: str, start_at: float, jobs: list[int]
) -> list[str]:
    registries = [ModelRegistry(tracking_uri, cache) for _ in jobs]
    time.sleep(max(0.0, start_at - time.time()))
    with ThreadPoolExecutor(max_workers=len(jobs)) as threads:
        return list(
            threads.map(
                lambda pair: pair[0].register("busy", run_id, tags={"job": str(pair[1])}).version,
                zip(registries, jobs, strict=True),
            )
        )
