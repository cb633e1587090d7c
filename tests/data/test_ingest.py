"""Ingest end to end: snapshots, quarantine, lineage, and the content-hash invariants."""

import pandas as pd
import pytest

from prodml.data import open_source
from prodml.data.snapshots import arrow_schema, content_hash
from prodml.data.validate import Validator
from prodml.errors import DataValidationError, IntegrityError
from tests.data._contracts import orders, orders_contract


def test_good_rows_become_a_snapshot_and_bad_rows_a_quarantine(workspace):
    frame = orders(100)
    frame.loc[[3, 7], "amount"] = -1.0
    result = workspace.ingest(open_source(frame), orders_contract())
    snap = result.snapshot
    assert result.created
    assert (snap.num_rows, snap.quarantined_rows) == (98, 2)
    assert snap.contract_version == orders_contract().version
    assert snap.profile["columns"]["amount"]["kind"] == "numeric"
    back = workspace.read_snapshot(snap.id)
    assert len(back) == 98
    assert not back["order_id"].isin([3, 7]).any()
    quarantine = pd.read_parquet(result.quarantine_uri)
    assert quarantine["_row"].tolist() == [4, 8]
    assert set(quarantine["_reject_reason"]) == {"amount: below min 0"}
    assert set(quarantine["_batch_id"]) == {result.report.batch_id}
    (ingestion,) = workspace.metadata.list_ingestions(snap.id)
    assert ingestion.quarantine_uri == result.quarantine_uri


def test_the_same_rows_give_the_same_snapshot_from_any_format_in_any_order(workspace, tmp_path):
    frame = orders(50)
    frame.to_csv(tmp_path / "o.csv", index=False)
    frame.sample(frac=1.0, random_state=3).to_parquet(tmp_path / "o.parquet")
    ids = {
        workspace.ingest(open_source(spec), orders_contract()).snapshot.id
        for spec in (frame, tmp_path / "o.csv", tmp_path / "o.parquet")
    }
    assert len(ids) == 1
    assert len(workspace.metadata.list_snapshots()) == 1
    assert len(workspace.metadata.list_ingestions()) == 3


def test_unchanged_input_is_recognised_without_reading_it(workspace, tmp_path):
    orders(50).to_parquet(tmp_path / "o.parquet")
    first = workspace.ingest(open_source(tmp_path / "o.parquet"), orders_contract())
    again = workspace.ingest(open_source(tmp_path / "o.parquet"), orders_contract())
    assert again.report is None
    assert not again.created
    assert again.snapshot == first.snapshot


def test_a_file_larger_than_the_chunk_size_streams_through(workspace, tmp_path):
    orders(10_000).to_parquet(tmp_path / "big.parquet", row_group_size=1_000)
    seen = []
    result = workspace.ingest(
        open_source(tmp_path / "big.parquet"),
        orders_contract(),
        chunk_rows=1_500,
        on_rows=seen.append,
    )
    assert max(seen) <= 1_500
    assert result.snapshot.num_rows == 10_000
    assert (
        result.snapshot.id
        == workspace.ingest(open_source(orders(10_000)), orders_contract()).snapshot.id
    )


def test_a_rejected_batch_leaves_nothing_behind(workspace):
    frame = orders(10).assign(amount=-1.0)
    with pytest.raises(DataValidationError, match="whole batch is rejected"):
        workspace.ingest(open_source(frame), orders_contract())
    assert workspace.metadata.list_snapshots() == []
    artifacts = workspace.artifacts
    assert not artifacts.fs.exists(f"{artifacts.root}/snapshots")
    assert not artifacts.fs.exists(f"{artifacts.root}/quarantine")


def test_parents_and_lineage_are_recorded(workspace):
    base = workspace.ingest(open_source(orders(10)), orders_contract()).snapshot
    child = workspace.ingest(open_source(orders(12)), orders_contract(), parents=[base.id]).snapshot
    assert child.parents == [base.id]
    assert child.lineage["contract"] == "orders"
    assert child.lineage["rows_read"] == 12


def test_a_tampered_snapshot_is_not_read(workspace):
    snap = workspace.ingest(open_source(orders(10)), orders_contract()).snapshot
    path = f"{workspace.artifacts.root}/snapshots/{snap.id}.parquet"
    data = workspace.artifacts.fs.cat_file(path)
    workspace.artifacts.fs.pipe_file(path, data[:-12] + b"0123456789ab")
    with pytest.raises(IntegrityError, match="corrupted or was modified"):
        workspace.read_snapshot(snap.id)


# -- content hash invariants ----------------------------------------------------------------


def _typed(frame):
    accepted, _ = Validator(orders_contract(), source="s", batch_id="b").check(frame)
    return accepted


SCHEMA = arrow_schema(orders_contract())


def test_the_content_hash_ignores_row_order():
    frame = _typed(orders(200))
    shuffled = frame.sample(frac=1.0, random_state=7).reset_index(drop=True)
    assert content_hash(frame, SCHEMA) == content_hash(shuffled, SCHEMA)


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("order_id", 10_000),
        ("shop", "west"),
        ("amount", 0.5 + 1e-9),
        ("paid", None),
        ("placed_at", pd.Timestamp("2030-01-01", tz="UTC")),
    ],
)
def test_any_one_changed_cell_changes_the_content_hash(column, value):
    frame = _typed(orders(200))
    changed = frame.copy()
    changed.loc[17, column] = value
    assert content_hash(frame, SCHEMA) != content_hash(changed, SCHEMA)


def test_the_content_hash_sees_duplicated_and_dropped_rows():
    frame = _typed(orders(20))
    doubled = pd.concat([frame, frame.iloc[[0]]], ignore_index=True)
    assert len({content_hash(f, SCHEMA) for f in (frame, doubled, frame.iloc[1:])}) == 3
