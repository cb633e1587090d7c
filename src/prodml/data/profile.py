"""Statistics profile of a table: the reference that drift checks compare against.

Numeric columns are binned at the reference's deciles (open-ended outer bins, so values
outside the reference range still land somewhere); categorical columns keep their most
frequent values and an "other" share. `column_psi` compares a column with its profile:
the population stability index, an effect size that does not cry wolf on large samples
(rule of thumb: < 0.1 stable, 0.1–0.25 moderate, > 0.25 major shift).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

TOP_CATEGORIES = 50
TRACKED_CATEGORIES = 10_000  # per text column while streaming; beyond, heavy hitters only
_EPS = 1e-4  # floor for empty bins, so a bin seen on one side only scores high but finite
_QUANTILES = (0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99)
_DECILES = np.linspace(0.1, 0.9, 9)
_PROBABILITIES = np.concatenate([_QUANTILES, _DECILES])


def profile_frame(frame: pd.DataFrame, columns: Sequence[str] | None = None) -> dict[str, Any]:
    """A JSON-serialisable profile of `columns` (default: all) of `frame`."""
    names = list(columns) if columns is not None else list(frame.columns)
    return {
        "num_rows": len(frame),
        "columns": {name: profile_column(frame[name]) for name in names},
    }


def profile_column(values: pd.Series) -> dict[str, Any]:
    values = _numeric_view(values)
    nulls = int(values.isna().sum())
    base: dict[str, Any] = {
        "nulls": nulls,
        "null_fraction": nulls / len(values) if len(values) else 0.0,
    }
    present = values.dropna()
    if is_numeric(values):
        data = present.to_numpy(dtype=float)
        if data.size == 0:  # one empty bin: shapes stay consistent for drift
            return {**base, "kind": "numeric", "edges": [], "fractions": [0.0]}
        # One selection pass for every probability instead of one per list.
        points = np.quantile(data, _PROBABILITIES)
        quantiles, deciles = points[: len(_QUANTILES)], points[len(_QUANTILES) :]
        edges = np.unique(deciles).tolist()
        return {
            **base,
            "kind": "numeric",
            "min": float(data.min()),
            "max": float(data.max()),
            "mean": float(data.mean()),
            "std": float(data.std()),
            "quantiles": dict(zip(map(str, _QUANTILES), quantiles.tolist(), strict=True)),
            "edges": edges,
            "fractions": numeric_fractions(data, edges).tolist(),
        }
    return {**base, **_categorical(_as_text(present).value_counts(normalize=True))}


def _categorical(shares: pd.Series) -> dict[str, Any]:
    """The categorical part of a profile from value shares sorted most frequent first."""
    top = shares.head(TOP_CATEGORIES)
    return {
        "kind": "categorical",
        "distinct": int(shares.size),
        "top": {str(k): float(v) for k, v in top.items()},
        "other_fraction": float(max(0.0, 1.0 - top.sum())),
    }


def is_numeric(values: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)


def numeric_fractions(data: np.ndarray, edges: Sequence[float] | np.ndarray) -> np.ndarray:
    """Share of `data` in each of the len(edges)+1 bins split at the inner `edges`."""
    counts = np.bincount(np.searchsorted(edges, data, side="right"), minlength=len(edges) + 1)
    return counts / max(1, data.size)


def categorical_fractions(values: pd.Series, categories: Sequence[str]) -> np.ndarray:
    """Share of `values` in each of `categories`, then one last bin for everything else."""
    shares = _as_text(values.dropna()).value_counts(normalize=True)
    known = np.array([shares.get(c, 0.0) for c in categories])
    return np.append(known, max(0.0, 1.0 - known.sum()))


def psi(expected: np.ndarray, actual: np.ndarray) -> float:
    """Population stability index of two vectors of bin shares (each summing to 1)."""
    e = np.clip(np.asarray(expected, dtype=float), _EPS, None)
    a = np.clip(np.asarray(actual, dtype=float), _EPS, None)
    return float(np.sum((a - e) * np.log(a / e)))


def column_psi(ref: dict[str, Any], values: pd.Series) -> float:
    """PSI of `values` against one column's profile, with missing values as their own bin."""
    values = _numeric_view(values)
    present = values.dropna()
    cur_null = 1.0 - len(present) / len(values) if len(values) else 0.0
    if ref["kind"] == "numeric":
        expected = np.asarray(ref["fractions"], dtype=float)
        if expected.size != len(ref["edges"]) + 1:
            raise ValueError(
                f"Reference profile of {values.name!r} has {len(ref['edges'])} bin edges but "
                f"{expected.size} shares; it is corrupt. Recompute it from the training data."
            )
        actual = numeric_fractions(present.to_numpy(dtype=float), ref["edges"])
    else:
        categories = list(ref["top"])
        expected = np.append(list(ref["top"].values()), ref["other_fraction"])
        actual = categorical_fractions(present, categories)
    ref_null = ref["null_fraction"]
    return psi(
        np.append(expected * (1 - ref_null), ref_null),
        np.append(actual * (1 - cur_null), cur_null),
    )


def _numeric_view(values: pd.Series) -> pd.Series:
    """Timestamps as seconds since the epoch: binned like any number, never as text."""
    if isinstance(values.dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_dtype(values):
        naive = (
            values.dt.tz_convert(None) if isinstance(values.dtype, pd.DatetimeTZDtype) else values
        )
        micros = naive.dt.as_unit("us").to_numpy(dtype="datetime64[us]").view("int64")
        return pd.Series(micros / 1e6, index=values.index).where(values.notna())
    return values


def _as_text(values: pd.Series) -> pd.Series:
    # Text columns are counted as they are: converting them again costs seconds per million.
    if isinstance(values.dtype, pd.StringDtype) or values.dtype == object:
        return values
    return values.astype(str)


class ProfileBuilder:
    """A profile built chunk by chunk, in bounded memory.

    Counts, nulls, min, max, mean, standard deviation and category shares are exact;
    quantiles and histogram bins come from a uniform random sample of `sample_rows` rows
    (bottom-k by a random key, so every row is equally likely whatever the chunking),
    which is also what `sample` hands to drift checks.
    """

    def __init__(self, sample_rows: int = 100_000, seed: int = 0) -> None:
        self.sample_rows = sample_rows
        self._rng = np.random.default_rng(seed)
        self._rows = 0
        self._nulls: dict[str, int] = {}
        self._moments: dict[str, tuple[int, float, float, float, float]] = {}
        self._counts: dict[str, pd.Series] = {}
        self._pruned: set[str] = set()
        self._sample: pd.DataFrame | None = None
        self._keys = np.empty(0)

    def update(self, frame: pd.DataFrame) -> None:
        if not len(frame):
            return
        self._rows += len(frame)
        for name in frame.columns:
            values = _numeric_view(frame[name])
            self._nulls[name] = self._nulls.get(name, 0) + int(values.isna().sum())
            if is_numeric(values):
                self._merge_moments(name, values.dropna().to_numpy(dtype=float))
            else:
                counts = _as_text(values.dropna()).value_counts()
                previous = self._counts.get(name)
                merged = counts if previous is None else previous.add(counts, fill_value=0)
                if len(merged) > TRACKED_CATEGORIES:
                    # High-cardinality text (ids, names): keep the heavy hitters only, so
                    # each chunk costs the same; the profile then says "at least" distinct.
                    merged = merged.nlargest(TRACKED_CATEGORIES)
                    self._pruned.add(name)
                self._counts[name] = merged
        keys = self._rng.random(len(frame))
        if self._keys.size >= self.sample_rows:
            # Only rows keyed below the sample's largest key can enter it: copy just those.
            entering = keys < self._keys.max()
            frame, keys = frame[entering], keys[entering]
        sample = (
            frame if self._sample is None else pd.concat([self._sample, frame], ignore_index=True)
        )
        keys = np.concatenate([self._keys, keys])
        if len(keys) > self.sample_rows:
            keep = np.argpartition(keys, self.sample_rows)[: self.sample_rows]
            sample, keys = sample.iloc[keep].reset_index(drop=True), keys[keep]
        self._sample, self._keys = sample, keys

    def sample(self, name: str) -> pd.Series:
        return self._sample[name] if self._sample is not None else pd.Series(dtype=float)

    def result(self) -> dict[str, Any]:
        columns: dict[str, Any] = {}
        for name in self._nulls:
            nulls = self._nulls[name]
            base = {"nulls": nulls, "null_fraction": nulls / self._rows if self._rows else 0.0}
            if name in self._counts:
                counts = self._counts[name].sort_values(ascending=False)
                shares = _categorical(counts / max(1, self._rows - nulls))
                pruned = {"distinct_is_lower_bound": name in self._pruned}
                columns[name] = {**base, **shares, **pruned}
                continue
            sampled = profile_column(self.sample(name))
            n, mean, m2, low, high = self._moments.get(name, (0, 0.0, 0.0, np.nan, np.nan))
            exact = (
                {"min": low, "max": high, "mean": mean, "std": float(np.sqrt(m2 / n))} if n else {}
            )
            columns[name] = {**sampled, **base, **exact}
        return {"num_rows": self._rows, "sampled_rows": len(self._keys), "columns": columns}

    def _merge_moments(self, name: str, data: np.ndarray) -> None:
        # Chan et al.'s parallel update: exact mean and variance without keeping the data.
        if not data.size:
            return
        n_b, mean_b = data.size, float(data.mean())
        m2_b = float(((data - mean_b) ** 2).sum())
        low_b, high_b = float(data.min()), float(data.max())
        if name not in self._moments:
            self._moments[name] = (n_b, mean_b, m2_b, low_b, high_b)
            return
        n_a, mean_a, m2_a, low_a, high_a = self._moments[name]
        n = n_a + n_b
        delta = mean_b - mean_a
        self._moments[name] = (
            n,
            mean_a + delta * n_b / n,
            m2_a + m2_b + delta**2 * n_a * n_b / n,
            min(low_a, low_b),
            max(high_a, high_b),
        )
