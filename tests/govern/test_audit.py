"""The audit log: a chain of events that `verify` finds intact, and that names the first
bad event when its table is edited, deleted from, inserted into or reordered with plain
SQL, or its newest events are deleted; on SQLite and PostgreSQL."""

from dataclasses import replace
from datetime import timedelta

import pytest
from sqlalchemy import create_engine, text

from prodml.govern.audit import AuditLog, seal
from prodml.store import MetadataStore


@pytest.fixture(params=[None, b"a secret"], ids=["sha256", "hmac"])
def audit(request, metadata_url, tmp_path, clock):
    store = MetadataStore(metadata_url)
    log = AuditLog(store, clock, tmp_path / "audit" / "anchors.jsonl", request.param)
    yield log
    store.close()


def _fill(audit: AuditLog, n: int) -> None:
    for i in range(n):
        audit.record("ana", "alias.move", f"flights/{i}", f"step {i}", {"auc": 0.7 + i / 1000})


def _sql(audit: AuditLog, *statements: str, **values: str) -> None:
    engine = create_engine(audit.metadata.url)
    with engine.begin() as conn:
        for statement in statements:
            conn.execute(text(statement), values)
    engine.dispose()


def test_events_are_chained_in_order_and_read_back_as_written(audit):
    _fill(audit, 5)
    events = list(audit.events())
    assert [e.seq for e in events] == [1, 2, 3, 4, 5]
    assert [e.prev_hash for e in events[1:]] == [e.hash for e in events[:-1]]
    assert events[2].figures == {"auc": 0.702}
    assert events[2].target == "flights/2"
    assert [e.seq for e in audit.events(target="flights/3")] == [4]
    verdict = audit.verify()
    assert (verdict.ok, verdict.events, verdict.head) == (True, 5, 5)
    assert "intact: 5 events" in verdict.sentence()


def test_an_edited_event_is_named(audit):
    _fill(audit, 10)
    _sql(audit, "UPDATE audit_events SET reason = 'nothing to see' WHERE seq = 4")
    verdict = audit.verify()
    assert (verdict.ok, verdict.first_bad) == (False, 4)
    assert "edited" in verdict.problem
    assert "tampered with at event 4" in verdict.sentence()


def test_a_deleted_event_is_named(audit):
    _fill(audit, 10)
    _sql(audit, "DELETE FROM audit_events WHERE seq IN (4, 5)")
    verdict = audit.verify()
    assert verdict.first_bad == 6
    assert "events 4–5 were deleted" in verdict.problem


def test_an_event_inserted_with_a_consistent_hash_is_caught_by_the_next_link(audit):
    _fill(audit, 10)
    fourth = next(e for e in audit.events() if e.seq == 4)
    forged = replace(fourth, actor="mallory", prev_hash=fourth.hash, reason="approved")
    forged = replace(forged, hash=seal(forged))  # who forges may not hold the key
    _sql(
        audit,
        "UPDATE audit_events SET seq = seq + 1000 WHERE seq > 4",
        "UPDATE audit_events SET seq = seq - 999 WHERE seq > 1000",
        "INSERT INTO audit_events (seq, at, actor, action, target, reason, figures, "
        "prev_hash, hash) SELECT 5, at, 'mallory', action, target, 'approved', figures, "
        ":prev, :hash FROM audit_events WHERE seq = 4",
        prev=forged.prev_hash,
        hash=forged.hash,
    )
    verdict = audit.verify()
    if audit.key is None:  # a consistent forgery: the event after it no longer links
        assert (verdict.first_bad, "inserted" in verdict.problem) == (6, True)
    else:  # without the key the forgery's own hash is wrong
        assert (verdict.first_bad, "edited" in verdict.problem) == (5, True)


def test_reordered_events_are_named(audit):
    _fill(audit, 10)
    _sql(
        audit,
        "UPDATE audit_events SET seq = 1005 WHERE seq = 5",
        "UPDATE audit_events SET seq = 5 WHERE seq = 6",
        "UPDATE audit_events SET seq = 6 WHERE seq = 1005",
    )
    verdict = audit.verify()
    assert verdict.first_bad == 5
    assert "reordered" in verdict.problem


def test_deleting_the_newest_events_is_caught_by_the_anchors(audit):
    _fill(audit, 130)  # anchored at events 1 and 100
    _sql(audit, "DELETE FROM audit_events WHERE seq >= 90")
    verdict = audit.verify()
    assert not verdict.ok
    assert "the newest events were deleted" in verdict.problem
    assert verdict.first_bad == 90


def test_a_chain_rewritten_whole_is_caught_by_the_anchors(audit):
    _fill(audit, 100)
    _sql(audit, "DELETE FROM audit_events")
    rewritten = AuditLog(audit.metadata, audit.clock, audit.anchors.with_name("x"), audit.key)
    for i in range(100):  # a consistent chain, but not the anchored one
        rewritten.record("ana", "alias.move", f"flights/{i}", "nothing happened")
    verdict = audit.verify()
    assert (verdict.ok, verdict.first_bad) == (False, 1)
    assert "rewritten" in verdict.problem


def test_concurrent_appenders_each_take_their_own_place(audit):
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda i: audit.record("bot", "test", f"t/{i}"), range(40)))
    verdict = audit.verify()
    assert (verdict.ok, verdict.events) == (True, 40)


def test_events_past_retention_are_pruned_and_the_rest_still_verifies(audit):
    _fill(audit, 120)  # anchored at 1 and 100
    audit.clock.advance(timedelta(days=200))
    _fill(audit, 5)
    assert audit.prune(timedelta(days=183)) == 120
    events = list(audit.events())
    assert events[0].seq == 121
    assert events[-1].action == "audit.prune"
    assert events[-1].figures["through"] == 120
    verdict = audit.verify()
    assert verdict.ok, verdict.problem
    assert verdict.events == 6
    assert audit.prune(timedelta(days=183)) == 0  # nothing more is old enough
    _fill(audit, 3)
    assert audit.verify().ok


def test_deleting_old_events_without_the_pruning_anchor_is_caught(audit):
    _fill(audit, 20)
    _sql(audit, "DELETE FROM audit_events WHERE seq <= 8")
    verdict = audit.verify()
    assert (verdict.ok, verdict.first_bad) == (False, 9)
    assert "events 1–8 were deleted" in verdict.problem
