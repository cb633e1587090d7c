from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest

from prodml.data.snapshots import content_hash
from prodml.data.validation import Check, validate
from prodml.errors import IntegrityError


def _frame(rng, n=500):
    return pd.DataFrame(
        {"k": rng.integers(0, 50, n), "v": rng.normal(size=n), "c": rng.choice(["a", "b"], n)}
    )


def test_content_hash_ignores_row_order_but_not_content(rng):
    frame = _frame(rng)
    shuffled = frame.sample(frac=1.0, random_state=1)
    table = pa.Table.from_pandas(frame, preserve_index=False)
    assert content_hash(table) == content_hash(pa.Table.from_pandas(shuffled, preserve_index=False))
    changed = frame.copy()
    changed.loc[3, "v"] += 1e-9
    assert content_hash(table) != content_hash(pa.Table.from_pandas(changed, preserve_index=False))


def test_content_hash_ignores_library_metadata_and_string_encodings(rng):
    frame = _frame(rng)
    as_str = pa.Table.from_pandas(frame, preserve_index=False)
    as_object = pa.Table.from_pandas(frame.astype({"c": object}), preserve_index=False)
    large = as_str.cast(as_str.schema.set(2, pa.field("c", pa.large_string())))
    plain = pa.table({name: as_str[name] for name in as_str.column_names})  # no pandas metadata
    assert len({content_hash(t) for t in (as_str, as_object, large, plain)}) == 1


def test_writing_keeps_rows_profile_and_quarantine(workspace, rng):
    frame = _frame(rng)
    frame.loc[:9, "v"] = None
    result = validate(frame, [Check("v", not_null=True)], source="toy")
    snap = workspace.snapshots.write(result, source="toy")
    assert snap.created
    record = snap.record
    assert record.num_rows == 490
    assert record.quarantined_rows == 10
    assert record.profile["columns"]["v"]["kind"] == "numeric"
    assert workspace.metadata.get_snapshot(record.id[:10]) == record
    back = workspace.snapshots.read(record)
    pd.testing.assert_frame_equal(back, result.accepted)
    quarantined = pd.read_parquet(record.quarantine_uri)
    assert len(quarantined) == 10
    assert set(quarantined["_reject_reason"]) == {"v is missing"}


def test_ingesting_the_same_rows_again_creates_nothing(workspace, rng):
    frame = _frame(rng)
    first = workspace.snapshots.write(validate(frame, [], source="toy"), source="toy")
    again = workspace.snapshots.write(
        validate(frame.iloc[::-1].reset_index(drop=True), [], source="toy"), source="toy"
    )
    assert not again.created
    assert again.record == first.record
    assert len(workspace.metadata.list_snapshots()) == 1


def test_rejected_rows_are_kept_even_when_the_accepted_rows_are_known(workspace, rng):
    frame = _frame(rng)
    workspace.snapshots.write(validate(frame, [], source="toy"), source="toy")
    bad = pd.concat([frame, frame.head(3).assign(v=None)], ignore_index=True)
    again = workspace.snapshots.write(
        validate(bad, [Check("v", not_null=True)], source="toy"), source="toy"
    )
    assert not again.created
    assert len(pd.read_parquet(again.quarantine_uri)) == 3


def test_a_tampered_snapshot_is_not_read(workspace, rng):
    snap = workspace.snapshots.write(validate(_frame(rng), [], source="toy"), source="toy").record
    path = Path(workspace.artifacts.root, f"snapshots/{snap.id}.parquet")
    path.write_bytes(path.read_bytes()[:-10] + b"0123456789")
    with pytest.raises(IntegrityError, match="corrupted or was modified"):
        workspace.snapshots.read(snap)
