"""What changed between two snapshots: rows added and removed, schema, distributions."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pandas as pd

from prodml.data.profile import column_psi
from prodml.store import SnapshotRecord


def diff_snapshots(
    old: SnapshotRecord, old_rows: pd.DataFrame, new: SnapshotRecord, new_rows: pd.DataFrame
) -> dict[str, Any]:
    """Row counts by content (on the columns both share), schema changes, and per column
    the null rates and the PSI of the new rows against the old snapshot's profile."""
    shared = [c for c in old_rows.columns if c in new_rows.columns]
    before, after = _row_hashes(old_rows[shared]), _row_hashes(new_rows[shared])
    kept = sum((before & after).values())
    old_types, new_types = old_rows.dtypes.astype(str), new_rows.dtypes.astype(str)
    columns = {}
    for name in shared:
        reference = old.profile.get("columns", {}).get(name)
        columns[name] = {
            "null_before": float(old_rows[name].isna().mean()) if len(old_rows) else 0.0,
            "null_after": float(new_rows[name].isna().mean()) if len(new_rows) else 0.0,
            "psi": column_psi(reference, new_rows[name]) if reference and len(new_rows) else 0.0,
        }
    return {
        "old": old.id,
        "new": new.id,
        "rows_kept": kept,
        "rows_added": sum(after.values()) - kept,
        "rows_removed": sum(before.values()) - kept,
        "schema": {
            "added": [c for c in new_rows.columns if c not in old_rows.columns],
            "removed": [c for c in old_rows.columns if c not in new_rows.columns],
            "retyped": [
                f"{c}: {old_types[c]} → {new_types[c]}"
                for c in shared
                if old_types[c] != new_types[c]
            ],
        },
        "columns": columns,
    }


def _row_hashes(frame: pd.DataFrame) -> Counter[int]:
    return Counter(pd.util.hash_pandas_object(frame, index=False).tolist())
