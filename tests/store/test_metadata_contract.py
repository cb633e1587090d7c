"""The metadata store's contract, run against every backend (SQLite and PostgreSQL)."""

import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import create_engine, inspect, text

from prodml.errors import (
    ConfigError,
    DataValidationError,
    NotFoundError,
    SchemaVersionError,
    StateError,
    StoreUnavailableError,
)
from prodml.store import (
    Alert,
    Decision,
    Finding,
    Label,
    MetadataStore,
    Override,
    PolicyChange,
    SnapshotRecord,
)

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


def test_schema_head_names_the_newest_migration_script():
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from prodml.store.metadata import _MIGRATIONS, SCHEMA_HEAD

    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    assert ScriptDirectory.from_config(config).get_heads() == [SCHEMA_HEAD]


def test_opening_applies_migrations(store, metadata_url):
    assert store.schema_revision == "0010"
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
    store.add_snapshot(_snapshot("abcd" + "0" * 60, created=T0))
    store.add_snapshot(_snapshot("abce" + "0" * 60, created=T0 + timedelta(hours=1)))
    assert store.get_snapshot("abcd").id.startswith("abcd")
    assert store.find_snapshot("abcd" + "0" * 60).id.startswith("abcd")
    assert store.find_snapshot("abcd") is None  # exact lookups take no prefix
    assert [s.id[:4] for s in store.list_snapshots()] == ["abce", "abcd"]
    with pytest.raises(NotFoundError, match="'abc' is too short"):
        store.get_snapshot("abc")
    store.add_snapshot(_snapshot("abcf" + "0" * 60))
    with pytest.raises(NotFoundError, match="'abc_' matches no snapshot"):
        store.get_snapshot("abc_")  # SQL wildcards are literal characters here
    with pytest.raises(NotFoundError, match=r"'ffff' matches no snapshot.*prodml status"):
        store.get_snapshot("ffff")


def test_times_with_any_offset_are_stored_as_the_same_instant(store):
    new_york = timezone(timedelta(hours=-4))
    local_midnight = datetime(2013, 7, 1, tzinfo=new_york)
    store.add_snapshot(_snapshot("e" * 64, created=local_midnight))
    store.add_findings(
        [
            Finding(
                monitor="performance",
                model_name="m",
                model_version="1",
                window_start=local_midnight,
                window_end=local_midnight + timedelta(days=31),
                metric="roc_auc",
                value=0.7,
                created_at=local_midnight,
            )
        ]
    )
    assert store.get_snapshot("eeee").created_at == datetime(2013, 7, 1, 4, tzinfo=UTC)
    assert store.list_findings()[0].window_start == datetime(2013, 7, 1, 4, tzinfo=UTC)
    with pytest.raises(ValueError, match="timezone-aware"):
        store.add_snapshot(_snapshot("f" * 64, created=datetime(2013, 7, 1)))


def test_two_writers_of_the_same_snapshot_both_succeed(metadata_url):
    first, second = MetadataStore(metadata_url), MetadataStore(metadata_url)
    results = [first.add_snapshot(_snapshot("9" * 64)), second.add_snapshot(_snapshot("9" * 64))]
    assert sorted(results) == [False, True]
    first.close()
    second.close()


def _open_and_count(url: str) -> int:
    store = MetadataStore(url)
    count = len(store.list_snapshots())
    store.close()
    return count


def test_concurrent_first_opens_all_succeed(metadata_url):
    with ProcessPoolExecutor(
        max_workers=6, mp_context=multiprocessing.get_context("spawn")
    ) as pool:
        assert list(pool.map(_open_and_count, [metadata_url] * 6)) == [0] * 6


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


def test_a_later_label_for_the_same_prediction_replaces_the_first(store):
    first = [Label("req-1", 1.0), Label("req-1", 0.0, row=1), Label("req-2", 0.0)]
    assert store.add_labels("m", first, received_at=T0) == 3
    store.add_labels("m", [Label("req-1", 0.0)], received_at=T0 + timedelta(days=1))
    labels = {(x.request_id, x.row): x for x in store.list_labels("m")}
    assert {k: x.label for k, x in labels.items()} == {
        ("req-1", 0): 0.0,
        ("req-1", 1): 0.0,
        ("req-2", 0): 0.0,
    }
    assert labels["req-1", 0].received_at == T0 + timedelta(days=1)
    assert store.list_labels("other") == []
    # Since a time: the labels that arrived from then on (the replaced one's new arrival).
    later = store.list_labels("m", since=T0 + timedelta(hours=1))
    assert [(x.request_id, x.row, x.label) for x in later] == [("req-1", 0, 0.0)]
    assert len(store.list_labels("m", since=T0)) == 3


def test_the_same_prediction_twice_in_one_call_keeps_the_last(store):
    labels = [Label("req-1", 1.0), Label("req-2", 1.0), Label("req-1", 0.0)]
    assert store.add_labels("m", labels, received_at=T0) == 2
    assert {(x.request_id, x.label) for x in store.list_labels("m")} == {
        ("req-1", 0.0),
        ("req-2", 1.0),
    }
    with pytest.raises(DataValidationError, match="NUL"):
        store.add_labels("m", [Label("bad\x00id", 1.0)], received_at=T0)


def test_many_labels_are_written_in_one_call(store):
    labels = [Label("batch-1", float(i % 2), row=i) for i in range(12_000)]
    assert store.add_labels("m", labels, received_at=T0) == 12_000
    assert sum(x.label for x in store.list_labels("m")) == 6_000


def test_an_alert_is_updated_in_place_and_listed_newest_first(store):
    opened = store.save_alert(
        Alert("drift", "m", "temp", "firing", T0, T0, 0.3, {"threshold": 0.1})
    )
    assert opened.id is not None
    later = store.save_alert(Alert("drift", "m", "wind", "firing", T0, T0 + timedelta(days=2), 0.2))
    store.save_alert(
        Alert(**{**opened.__dict__, "status": "resolved", "resolved_at": T0 + timedelta(days=1)})
    )
    assert [a.subject for a in store.list_alerts(model_name="m")] == ["wind", "temp"]
    assert [a.id for a in store.list_alerts(status="firing")] == [later.id]
    resolved = store.list_alerts(status="resolved")[0]
    assert resolved.detail == {"threshold": 0.1}
    assert resolved.resolved_at is not None
    assert resolved.resolved_at.tzinfo == UTC


def _change(revision: int, action: str, weight: float, **extra) -> PolicyChange:
    policy = {"kind": "canary", "model": "m", "arms": [["candidate", "2", weight]]}
    return PolicyChange(
        "flights", revision, policy, "ana", action, f"{action} to {weight}", T0, **extra
    )


def test_a_deployment_keeps_its_newest_policy_and_every_change_in_order(store):
    assert store.deployment("flights") is None
    store.change_policy(_change(1, "create", 0.05))
    store.change_policy(_change(2, "advance", 0.25, figures={"error_rate": [0.01, 0.012]}))
    current = store.deployment("flights")
    assert current == _change(2, "advance", 0.25, figures={"error_rate": [0.01, 0.012]})
    assert current.at.tzinfo == UTC
    history = store.deployment_history("flights")
    assert [(c.revision, c.action) for c in history] == [(1, "create"), (2, "advance")]
    assert [d.deployment for d in store.list_deployments()] == ["flights"]
    store.forget_deployment("flights")  # a replay starting over
    assert store.deployment("flights") is None
    assert store.deployment_history("flights") == []
    store.change_policy(_change(1, "create", 0.05))  # and the name is free again


def test_a_change_made_on_stale_state_is_refused_and_changes_nothing(store):
    store.change_policy(_change(1, "create", 0.05))
    store.change_policy(_change(2, "advance", 0.25))
    with pytest.raises(StateError, match=r"'flights' is at revision 2; .* revision 2\. "):
        store.change_policy(_change(2, "rollback", 0.0))  # decided on revision 1
    with pytest.raises(StateError, match="is at revision 2"):
        store.change_policy(_change(1, "create", 0.5))  # created twice
    with pytest.raises(StateError, match="'other' does not exist"):
        store.change_policy(PolicyChange("other", 2, {}, "ana", "advance", "", T0))
    assert [c.action for c in store.deployment_history("flights")] == ["create", "advance"]


def test_of_two_writers_deciding_on_the_same_state_exactly_one_wins(metadata_url):
    store = MetadataStore(metadata_url)
    store.change_policy(_change(1, "create", 0.05))
    with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn")) as pool:
        outcomes = list(pool.map(_decide, [metadata_url] * 2, ["advance", "rollback"]))
    assert sorted(outcomes) == ["StateError", "ok"]
    assert len(store.deployment_history("flights")) == 2
    store.close()


def _decide(url: str, action: str) -> str:
    store = MetadataStore(url)
    try:
        store.change_policy(_change(2, action, 0.25))
        return "ok"
    except StateError:
        return "StateError"
    finally:
        store.close()


def test_a_lease_is_held_by_one_holder_until_it_expires_or_is_released(store):
    assert store.hold_lease("rollout:flights", "a", seconds=60)
    assert store.hold_lease("rollout:flights", "a", seconds=60)  # renewed
    assert not store.hold_lease("rollout:flights", "b", seconds=60)
    assert store.hold_lease("rollout:other", "b", seconds=60)  # leases are independent
    store.release_lease("rollout:flights", "b")  # not b's to release
    assert not store.hold_lease("rollout:flights", "b", seconds=60)
    store.release_lease("rollout:flights", "a")
    assert store.hold_lease("rollout:flights", "b", seconds=0.2)
    time.sleep(0.3)
    assert store.hold_lease("rollout:flights", "a", seconds=60)  # b's expired


def test_live_leases_are_listed_by_prefix_until_they_expire(store):
    store.hold_lease("server a_b http://one:1", "x", seconds=60)
    store.hold_lease("server a_b http://two:2", "y", seconds=0.2)
    store.hold_lease("server aXb http://three:3", "z", seconds=60)  # `_` is no wildcard
    store.hold_lease("server a% http://four:4", "z", seconds=60)
    prefix = "server a_b "
    assert store.live_leases(prefix) == ["server a_b http://one:1", "server a_b http://two:2"]
    assert store.live_leases("server a% ") == ["server a% http://four:4"]
    time.sleep(0.3)
    assert store.live_leases(prefix) == ["server a_b http://one:1"]
    store.release_lease("server a_b http://one:1", "x")
    assert store.live_leases(prefix) == []


def test_of_many_processes_asking_for_a_free_lease_exactly_one_gets_it(metadata_url):
    MetadataStore(metadata_url).close()  # migrated before the race
    with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn")) as pool:
        held = list(pool.map(_hold, [metadata_url] * 4, "abcd"))
    assert sum(held) == 1


def _hold(url: str, holder: str) -> bool:
    store = MetadataStore(url)
    try:
        return store.hold_lease("race", holder, seconds=60)
    finally:
        store.close()


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


def test_a_file_that_is_not_a_database_is_a_clear_error(tmp_path):
    (tmp_path / "metadata.db").write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreUnavailableError, match=r"is it a prodml database\?"):
        MetadataStore(f"sqlite:///{tmp_path / 'metadata.db'}")


def test_a_malformed_url_is_a_config_error():
    with pytest.raises(ConfigError, match="is not a database URL"):
        MetadataStore("not a url")


def test_sqlite_runs_in_wal_mode(tmp_path):
    store = MetadataStore(f"sqlite:///{tmp_path / 'm.db'}")
    with store._engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
    store.close()


def test_an_exclusive_lock_admits_one_holder_for_as_long_as_it_runs(metadata_url, store):
    other = MetadataStore(metadata_url)
    try:
        with store.exclusive("ct:flights", seconds=0.3) as held:
            assert held
            time.sleep(0.5)  # past its lease: renewed while the block runs
            with other.exclusive("ct:flights") as second:
                assert not second
            with other.exclusive("ct:other") as independent:
                assert independent
        with other.exclusive("ct:flights") as after:
            assert after
    finally:
        other.close()


def test_of_two_controllers_started_together_one_holds_the_lock(metadata_url):
    MetadataStore(metadata_url).close()  # migrated before the race
    with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn")) as pool:
        held = list(pool.map(_lock_for_a_second, [metadata_url] * 2))
    assert sorted(held) == [False, True]


def _lock_for_a_second(url: str) -> bool:
    store = MetadataStore(url)
    try:
        with store.exclusive("ct:race", seconds=5) as held:
            time.sleep(1.0)
            return held
    finally:
        store.close()


def test_a_lock_holder_that_dies_loses_the_lock(metadata_url, store):
    context = multiprocessing.get_context("spawn")
    child = context.Process(target=_lock_and_die, args=(metadata_url,))
    child.start()
    child.join(60)
    assert child.exitcode == 3
    time.sleep(0.6)  # on SQLite, the lease runs out (PostgreSQL frees it with the session)
    with store.exclusive("ct:dying") as held:
        assert held


def _lock_and_die(url: str) -> None:
    import os

    store = MetadataStore(url)
    with store.exclusive("ct:dying", seconds=0.5) as held:
        assert held
        os._exit(3)  # killed: nothing released


def test_decisions_are_kept_in_order_and_filtered(store):

    at = datetime(2024, 5, 1, tzinfo=UTC)
    for i, kind in enumerate(["policy", "evaluated", "retraining", "retrained"]):
        store.add_decision(Decision("m", at + timedelta(hours=i), kind, f"r{i}", {"i": i}))
    store.add_decision(Decision("other", at, "evaluated", "x"))
    found = store.list_decisions("m")
    assert [d.kind for d in found] == ["policy", "evaluated", "retraining", "retrained"]
    assert found[2].figures == {"i": 2}
    assert found[0].at == at
    assert [d.kind for d in store.list_decisions("m", limit=2)] == ["retraining", "retrained"]
    assert [d.reason for d in store.list_decisions("m", kinds={"evaluated"})] == ["r1"]
    assert store.list_decisions("m", since=at + timedelta(hours=3))[0].kind == "retrained"
    store.forget_decisions("m")
    assert store.list_decisions("m") == []
    assert len(store.list_decisions("other")) == 1


def test_overrides_are_listed_per_model_or_per_request_and_a_later_one_replaces(store):
    def override(request_id: str, row: int, decision: float, minutes: int) -> Override:
        return Override(
            "m",
            request_id,
            row,
            decision,
            0.0,
            "ann",
            "checked by hand",
            T0 + timedelta(minutes=minutes),
        )

    store.add_override(override("a", 0, 1.0, 0))
    store.add_override(override("b", 0, 1.0, 1))
    store.add_override(override("a", 1, 1.0, 2))
    store.add_override(override("a", 0, 0.0, 3))  # the same row again: replaces
    assert [(o.request_id, o.row) for o in store.list_overrides("m")] == [
        ("b", 0),
        ("a", 1),
        ("a", 0),
    ]
    assert [(o.row, o.decision) for o in store.list_overrides("m", "a")] == [(1, 1.0), (0, 0.0)]
    assert store.list_overrides("m", "c") == store.list_overrides("other") == []
