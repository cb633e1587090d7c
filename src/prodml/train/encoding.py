"""Turn feature rows into the float matrix every model flavor takes.

Categoricals become integer codes from the training vocabulary (unseen values become
missing); numerics pass through. The same encoder, saved as JSON beside the model, runs
at training, batch scoring and serving, so the three paths cannot disagree. Serving uses
`encode_rows`, which touches no pandas: a single row costs microseconds.
"""

from __future__ import annotations

import functools
import math
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class FeatureSpec:
    """The model's input signature: which features, of which kind, in which order."""

    categorical: tuple[str, ...]
    numeric: tuple[str, ...]

    @property
    def names(self) -> tuple[str, ...]:
        return self.categorical + self.numeric


@dataclass
class TabularEncoder:
    """Encodes rows of `spec` into a float64 matrix (columns in `spec.names` order)."""

    spec: FeatureSpec
    vocabulary: dict[str, dict[str, int]] = field(default_factory=dict)

    def fit(self, frame: pd.DataFrame) -> TabularEncoder:
        self.vocabulary = {
            name: {v: i for i, v in enumerate(sorted(_as_keys(frame[name]).dropna().unique()))}
            for name in self.spec.categorical
        }
        return self

    def encode_frame(self, frame: pd.DataFrame) -> np.ndarray:
        columns = [_codes(frame[name], self.vocabulary[name]) for name in self.spec.categorical]
        columns += [frame[name].astype(float).to_numpy() for name in self.spec.numeric]
        return np.column_stack(columns) if columns else np.empty((len(frame), 0))

    def encode_rows(self, rows: Sequence[Mapping[str, Any]]) -> np.ndarray:
        packed = bytearray(b"".join(self.pack_row(row) for row in rows))
        return np.frombuffer(packed, dtype=float).reshape(len(rows), len(self.spec.names))

    def pack_row(self, row: Mapping[str, Any]) -> bytes:
        """One row as its model inputs, packed as native float64s: a categorical's code
        (missing if unseen), a numeric as it is, None as NaN. The one-row serving path
        hands these bytes straight to compiled code."""
        get = row.get
        values: list[float] = []
        for name in self.spec.categorical:
            value = get(name)
            code = None if value is None else self.vocabulary[name].get(str(value))
            values.append(math.nan if code is None else code)
        values += [math.nan if (v := get(name)) is None else v for name in self.spec.numeric]
        return self._packer.pack(*values)

    @functools.cached_property
    def _packer(self) -> struct.Struct:
        return struct.Struct(f"={len(self.spec.names)}d")

    def to_dict(self) -> dict[str, Any]:
        return {
            "categorical": list(self.spec.categorical),
            "numeric": list(self.spec.numeric),
            "vocabulary": self.vocabulary,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TabularEncoder:
        spec = FeatureSpec(tuple(data["categorical"]), tuple(data["numeric"]))
        return cls(spec, {k: dict(v) for k, v in data["vocabulary"].items()})


def _codes(values: pd.Series, vocabulary: Mapping[str, int]) -> np.ndarray:
    """A categorical column's codes (NaN when missing or unseen). Each distinct value is
    turned into its key once, not each row: a column has few values and many rows."""
    positions, uniques = pd.factorize(values, use_na_sentinel=True)
    keys = _as_keys(pd.Series(uniques, dtype=values.dtype))
    lookup = np.array(
        [math.nan if k is None else vocabulary.get(k, math.nan) for k in keys] + [math.nan]
    )
    return lookup[positions]  # the sentinel -1 picks the trailing NaN


def _as_keys(values: pd.Series) -> pd.Series:
    """Category values as the strings the vocabulary is keyed by, nulls kept as nulls.

    Integer or boolean categories (a store id, a flag) must encode the same from a frame
    and from a JSON row, where they may arrive as "7" or 7.
    """
    if pd.api.types.is_float_dtype(values) and (values.dropna() % 1 == 0).all():
        values = values.astype("Int64")  # 7.0 (an int column with nulls) is the category "7"
    return values.astype(str).where(values.notna(), None)
