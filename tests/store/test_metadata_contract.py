"""The metadata store's contract, run against every backend (SQLite and PostgreSQL)."""

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import create_engine, inspect, text

from prodml.errors import ConfigError, NotFoundError, SchemaVersionError, StoreUnavailableError
from prodml.store import Finding, MetadataStore, SnapshotRecord

T0 = datetime(2013, 7, 1, tzinfo=UTC)


def _snapshot(sid: str, created: datetime = T0, **extra) -> SnapshotRecord:
    return SnapshotRecord(
        id=sid,
        source="flights",
        created_at=created,
        num_rows=10,
        num_columns=3,
        uri=f"/tmp/{sid}.parquet",
        profile={"num_rows": 10, "columns": {"x": {"kind": "numeric", "edges": [0.5]}}},
        **extra,
    )


@pytest.fixture
def store(metadata_url):
    store = MetadataStore(metadata_url)
    yield store
    store.close()


def test_opening_applies_migrations(store, metadata_url):
    assert store.schema_revision == "0001"
    engine = create_engine(metadata_url)
    assert {"snapshots", "findings", "alembic_version"} <= set(inspect(engine).get_table_names())
    engine.dispose()


def test_snapshot_round_trip_keeps_every_field(store):
    record = _snapshot("a" * 64, quarantined_rows=3, quarantine_uri="/q.parquet")
    assert store.add_snapshot(record) is True
    assert store.get_snapshot("a" * 64) == record


def test_adding_a_known_snapshot_changes_nothing(store):
    first = _snapshot("b" * 64)
    assert store.add_snapshot(first)
    assert store.add_snapshot(_snapshot("b" * 64, created=T0 + timedelta(days=1))) is False
    assert store.list_snapshots() == [first]


def test_snapshots_resolve_by_unique_prefix_and_list_newest_first(store):
    store.add_snapshot(_snapshot("ab" + "0" * 62, created=T0))
    store.add_snapshot(_snapshot("ac" + "0" * 62, created=T0 + timedelta(hours=1)))
    assert store.get_snapshot("ab").id.startswith("ab")
    assert [s.id[:2] for s in store.list_snapshots()] == ["ac", "ab"]
    with pytest.raises(NotFoundError, match="'a' matches several snapshots"):
        store.get_snapshot("a")
    with pytest.raises(NotFoundError, match=r"'ff' matches no snapshot.*prodml status"):
        store.get_snapshot("ff")


def test_findings_round_trip_in_window_order_with_utc_times(store):
    def finding(month: int, metric: str, value: float) -> Finding:
        start = datetime(2013, month, 1, tzinfo=UTC)
        return Finding(
            monitor="drift" if metric == "psi" else "performance",
            model_name="m",
            model_version="1",
            window_start=start,
            window_end=start + timedelta(days=28),
            metric=metric,
            value=value,
            created_at=T0,
            feature="temp" if metric == "psi" else None,
        )

    assert store.add_findings([finding(8, "psi", 0.3), finding(7, "roc_auc", 0.74)]) == 2
    found = store.list_findings()
    assert [f.window_start.month for f in found] == [7, 8]
    assert all(f.window_start.tzinfo == UTC and f.id is not None for f in found)
    assert [f.value for f in store.list_findings(monitor="drift")] == [0.3]
    assert store.list_findings(model_name="other") == []


def test_data_survives_reopening(metadata_url):
    store = MetadataStore(metadata_url)
    store.add_snapshot(_snapshot("c" * 64))
    store.close()
    again = MetadataStore(metadata_url)
    assert [s.id for s in again.list_snapshots()] == ["c" * 64]
    again.close()


def test_a_workspace_from_a_newer_prodml_is_refused_and_left_untouched(store, metadata_url):
    store.add_snapshot(_snapshot("d" * 64))
    store.close()
    engine = create_engine(metadata_url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '9999_future'"))
    with pytest.raises(SchemaVersionError, match=r"9999_future.*newer prodml.*Upgrade prodml"):
        MetadataStore(metadata_url)
    with engine.connect() as conn:
        assert (
            conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == "9999_future"
        )
        assert conn.execute(text("SELECT count(*) FROM snapshots")).scalar() == 1
    engine.dispose()


def test_unreachable_server_is_a_clear_error():
    url = "postgresql+psycopg://postgres@127.0.0.1:1/nowhere"
    with pytest.raises(
        StoreUnavailableError, match=r"Cannot reach the metadata database.*:1/nowhere.*metadata_url"
    ):
        MetadataStore(url)


def test_a_password_never_appears_in_errors():
    with pytest.raises(StoreUnavailableError) as info:
        MetadataStore("postgresql+psycopg://u:s3cret@127.0.0.1:1/db")
    assert "s3cret" not in str(info.value)


def test_a_malformed_url_is_a_config_error():
    with pytest.raises(ConfigError, match="is not a database URL"):
        MetadataStore("not a url")


def test_sqlite_runs_in_wal_mode(tmp_path):
    store = MetadataStore(f"sqlite:///{tmp_path / 'm.db'}")
    with store._engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
    store.close()
