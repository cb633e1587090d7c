"""Shared fixtures: a seeded RNG, a workspace in a temporary folder, and real PostgreSQL."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import NoReturn

import numpy as np
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

from prodml.clock import SimulatedClock
from prodml.workspace import Workspace

POSTGRES_URL = os.environ.get(
    "TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
IN_CI = os.environ.get("CI", "").lower() == "true"
# The CLI's tables are as wide as the terminal, read when its console is made (on import);
# a pytest-xdist worker has none, and would get 80 columns.
os.environ["COLUMNS"] = "160"
# Under pytest-xdist each worker takes its own Redis database (15, 14, ...), so one
# worker's flush never empties another's keys.
_WORKER = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw"))
REDIS_URL = os.environ.get("TEST_REDIS_URL", f"redis://127.0.0.1:6379/{15 - _WORKER}")
NATS_URL = os.environ.get("TEST_NATS_URL", "nats://127.0.0.1:4222")


@pytest.fixture
def rng() -> np.random.Generator:
    """A seeded generator, so a failing test fails the same way twice."""
    return np.random.default_rng(20130101)


@pytest.fixture
def clock() -> SimulatedClock:
    return SimulatedClock(datetime(2013, 7, 1, tzinfo=UTC))


@pytest.fixture(autouse=True)
def _no_prodml_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests see only the settings they set: a developer's PRODML_* must not leak in."""
    for name in [n for n in os.environ if n.startswith("PRODML_")]:
        monkeypatch.delenv(name)


@pytest.fixture
def workspace(tmp_path: Path, clock: SimulatedClock) -> Iterator[Workspace]:
    ws = Workspace.open(tmp_path, clock)
    yield ws
    ws.close()


@pytest.fixture(scope="session")
def postgres_server() -> str:
    """The URL of the real PostgreSQL; skips without one, except in CI where it must run."""
    engine = create_engine(POSTGRES_URL)
    try:
        with engine.connect():
            pass
    except (OperationalError, ModuleNotFoundError) as exc:
        _unreachable("PostgreSQL", POSTGRES_URL, "TEST_POSTGRES_URL", exc)
    finally:
        engine.dispose()
    return POSTGRES_URL


@contextmanager
def fresh_schema(server: str) -> Iterator[str]:
    """A URL of PostgreSQL `server` whose tables land in a fresh schema, dropped after."""
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(server)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    # The application name marks this schema's connections, so the clean-up below ends
    # only those, never a test running beside it (pytest-xdist).
    yield f"{server}?options=-csearch_path%3D{schema}&application_name={schema}"
    with admin.begin() as conn:
        # A connection a test cut mid-transaction (through a proxy) stays "idle in
        # transaction" on the server, holding its locks, and the drop would wait forever.
        conn.execute(
            text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = "
                "current_database() AND state LIKE 'idle in transaction%' "
                "AND application_name = :schema"
            ),
            {"schema": schema},
        )
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


@pytest.fixture
def postgres_url(postgres_server: str) -> Iterator[str]:
    """A URL whose tables land in a fresh schema, dropped afterwards."""
    with fresh_schema(postgres_server) as url:
        yield url


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def metadata_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Every metadata backend: the contract suite runs once per value."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'metadata.db'}"
    return request.getfixturevalue("postgres_url")


@pytest.fixture
def governed(tmp_path: Path, metadata_url: str) -> Iterator[tuple[Workspace, dict[str, str]]]:
    """A project with governance.auth on, on each metadata backend, and a live token per
    role (on the wall clock, as commands and servers run)."""
    import yaml

    from prodml.govern.roles import ROLES

    settings = {
        "metadata_url": metadata_url,
        "governance": {"auth": True, "credentials": str(tmp_path / "home" / "credentials.json")},
    }
    (tmp_path / "prodml.yaml").write_text(yaml.safe_dump(settings))
    ws = Workspace.open(tmp_path)
    tokens = {role: ws.tokens.create(role, name=f"a {role}", actor="setup")[1] for role in ROLES}
    yield ws, tokens
    ws.close()


@pytest.fixture(scope="session")
def toy_lightgbm():
    """A small LightGBM model on the toy problem, trained once for the whole session."""
    from prodml.train import fit_model
    from tests._data import TOY_SPEC, toy_frame

    frame = toy_frame(np.random.default_rng(1), 2000)
    return fit_model("lightgbm", frame, "y", TOY_SPEC, params={"num_boost_round": 20})


@pytest.fixture
def conformal_predictor(toy_lightgbm):
    """`toy_lightgbm` as served, with conformal quantiles from 1,500 rows it did not fit on."""
    import dataclasses

    from prodml.registry import ModelVersionInfo
    from prodml.serve import Predictor
    from prodml.train import conformal
    from tests._data import toy_frame

    frame = toy_frame(np.random.default_rng(8), 1500)
    fitted = conformal.fit(toy_lightgbm.predict_frame(frame), frame["y"], "classification")
    model = dataclasses.replace(toy_lightgbm, conformal=fitted)
    return Predictor(model, ModelVersionInfo("toy", "2", "r", "s", ()))


@pytest.fixture
def redis_url() -> str:
    """The real Redis (database 15, emptied first); skips without one, except in CI."""
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.flushdb()
    except redis.RedisError as exc:
        _unreachable("Redis", REDIS_URL, "TEST_REDIS_URL", exc)
    finally:
        client.close()
    return REDIS_URL


@pytest.fixture(scope="session")
def nats_url() -> str:
    """The real NATS server with JetStream; skips without one, except in CI."""
    import asyncio

    async def probe() -> None:
        import nats

        client = await nats.connect(NATS_URL, connect_timeout=3, max_reconnect_attempts=0)
        try:
            await client.jetstream().account_info()  # fails if JetStream is not enabled
        finally:
            await client.close()

    try:
        asyncio.run(probe())
    except Exception as exc:
        _unreachable("NATS JetStream", NATS_URL, "TEST_NATS_URL", exc)
    return NATS_URL


def _unreachable(service: str, url: str, variable: str, exc: Exception) -> NoReturn:
    """A service test without its service: a skip on a laptop, a failure in CI."""
    _missing(f"{service} at {url} is unreachable", f"set {variable}: {exc}")


def require_program(*names: str, package: str) -> str:
    """The path of the first of `names` on PATH; without one, a skip on a laptop and a
    failure in CI, saying which Debian `package` to install."""
    for name in names:
        if found := shutil.which(name):
            return found
    _missing(f"Debian's {package} is not installed", f"apt-get install -y {package}")


def _missing(what: str, remedy: str) -> NoReturn:
    if IN_CI:
        pytest.fail(f"CI=true but {what} ({remedy})")
    pytest.skip(f"{what} ({remedy})")
