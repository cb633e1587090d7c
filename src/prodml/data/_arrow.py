"""pandas → Arrow in one place, so a library quirk is handled once."""

from __future__ import annotations

import warnings

import pandas as pd
import pyarrow as pa


def to_arrow(frame: pd.DataFrame, schema: pa.Schema | None = None) -> pa.Table:
    with warnings.catch_warnings():
        # pyarrow reads timezone-aware columns through Series.values, which pandas 3.1
        # deprecates; the values are unaffected, and the fix belongs to pyarrow.
        warnings.filterwarnings("ignore", message="Series.values returning an ndarray that drops")
        return pa.Table.from_pandas(frame, schema=schema, preserve_index=False)
