"""pandas → Arrow in one place, so a library quirk is handled once."""

from __future__ import annotations

import warnings

import pandas as pd
import pyarrow as pa


def to_arrow(frame: pd.DataFrame, schema: pa.Schema | None = None) -> pa.Table:
    """`frame` as Arrow; an object column mixing types (3, "x") becomes text rather than
    an error, for the contract to type cell by cell."""
    with warnings.catch_warnings():
        # pyarrow reads timezone-aware columns through Series.values, which pandas 3.1
        # deprecates; the values are unaffected, and the fix belongs to pyarrow.
        warnings.filterwarnings("ignore", message="Series.values returning an ndarray that drops")
        try:
            return pa.Table.from_pandas(frame, schema=schema, preserve_index=False)
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            if schema is not None:
                raise
            mixed = [c for c in frame.columns if frame[c].dtype == object]
            text = frame.astype({c: "string" for c in mixed})
            return pa.Table.from_pandas(text, preserve_index=False)
