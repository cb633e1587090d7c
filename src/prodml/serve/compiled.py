"""A LightGBM model compiled to native code, for the one-row path: 4-5x faster than
LightGBM's own single-row fast path, and bit-identical to it or not used at all.

Treelite reads the booster and TL2cgen writes its trees as C if-else chains (thresholds
and leaf values in float64, as LightGBM keeps them); gcc builds a shared library with a
small shim of ours, called through ctypes with no lock (the code keeps no state). The
library is cached by the model's text and the compiler, so a restart or a second worker
reuses it. Before it takes traffic, `verify` scores rows built from the model's own split
thresholds (each side of every threshold, and missing values) both ways; one differing
bit and the model stays on LightGBM. Compiling takes tens of seconds for hundreds of
trees, so servers do it in the background (`Predictor.compile_in_background`).

Needs ``pip install 'prodml[compiled]'`` and a C compiler; without either, nothing changes.
"""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import logging
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from prodml.errors import ServingError

logger = logging.getLogger(__name__)

# Our entry point next to the generated `predict`: marks missing values as TL2cgen's union
# expects, and returns NaN, so that the caller asks LightGBM instead, for two kinds of value
# the generated code reads otherwise than LightGBM: one whose low 32 bits are the "missing"
# marker, and a nonzero one within LightGBM's zero band (|x| <= 1e-35f), which LightGBM
# takes for zero, hence missing, on a split whose missing type is "zero".
_SHIM = r"""
#include "header.h"

double prodml_predict_row(const double* row) {
  union Entry data[%(n)d];
  for (int i = 0; i < %(n)d; ++i) {
    if (isnan(row[i])) {
      data[i].missing = -1;
    } else {
      if (row[i] != 0.0 && fabs(row[i]) <= (double)1e-35f) return NAN;
      data[i].fvalue = row[i];
      if (data[i].missing == -1) return NAN;
    }
  }
  double result[1] = {0.0};
  predict(data, 0, result);
  return result[0];
}
"""
# The row goes in as bytes: ctypes passes a bytes object's own buffer, which costs less
# than asking numpy for an address.
_PROTOTYPE = ctypes.CFUNCTYPE(ctypes.c_double, ctypes.c_char_p)
_FLAGS = ("-O2", "-fPIC", "-std=c99")


class CompiledTrees:
    """``predict(row)`` for one row of packed float64s (`TabularEncoder.pack_row`), with
    LightGBM (`fallback`) for the rare row the compiled code cannot take."""

    def __init__(self, library: Path, n_features: int, fallback: Any) -> None:
        self.library = library
        self._lib = ctypes.CDLL(str(library))  # kept: unloading would free the code
        address = ctypes.cast(self._lib.prodml_predict_row, ctypes.c_void_p).value
        self._call = _PROTOTYPE(int(address or 0))
        self._n_features = n_features
        self._fallback = fallback

    def predict(self, row: bytes) -> float:
        """The score of one row of `n_features` packed float64s, as LightGBM gives it."""
        if len(row) != 8 * self._n_features:
            raise ValueError(f"row must be {self._n_features} float64 values ({len(row)} bytes).")
        score: float = self._call(row)
        if score != score:  # NaN: refused (or a NaN leaf, which LightGBM gives as well)
            return float(self._fallback.predict(row))
        return score


def available() -> str | None:
    """Why compiling cannot run here, or None when it can."""
    try:
        import tl2cgen  # noqa: F401
        import treelite  # noqa: F401
    except ImportError:
        return "treelite and tl2cgen are not installed (pip install 'prodml[compiled]')"
    if _compiler() is None:
        return "no C compiler (cc or gcc) on PATH"
    return None


def compile_booster(booster: Any, cache: Path) -> Path:
    """The shared library of `booster`'s trees, compiled into `cache` unless an earlier
    run left it there; processes compiling the same model at once build it once."""
    reason = available()
    if reason:
        raise ServingError(f"Cannot compile the trees: {reason}.")
    compiler = str(_compiler())
    text = booster.model_to_string()
    import tl2cgen

    made_by = [_compiler_version(compiler), *_FLAGS, tl2cgen.__version__, _SHIM, sys.platform]
    key = hashlib.sha256("|".join([text, *made_by]).encode()).hexdigest()[:20]
    library = cache / key / "model.so"
    if library.exists():
        return library
    library.parent.mkdir(parents=True, exist_ok=True)
    with _exclusive(library.parent / ".lock"):
        if not library.exists():  # another process may have built it while we waited
            _build(booster, compiler, library)
    return library


def verify(compiled: CompiledTrees, booster: Any, rows: np.ndarray) -> int:
    """How many of `rows` score differently (in any bit) compiled and in LightGBM."""
    expected = booster.predict(rows, num_threads=1)
    got = np.array([compiled.predict(row.tobytes()) for row in np.asarray(rows, np.float64)])
    return int(np.sum(got.view(np.uint64) != np.asarray(expected, np.float64).view(np.uint64)))


def probe_rows(booster: Any, n: int = 2000, seed: int = 0) -> np.ndarray:
    """Rows that walk the trees' edges: each feature takes its split thresholds, the next
    float on either side, or a missing value."""
    rng = np.random.default_rng(seed)
    n_features = booster.num_feature()
    zero_band = float(np.float32(1e-35))  # LightGBM's kZeroThreshold
    edges = [np.nan, 0.0, zero_band, -zero_band, np.nextafter(zero_band, 1.0)]
    candidates: list[list[float]] = [list(edges) for _ in range(n_features)]
    for tree in booster.dump_model()["tree_info"]:
        for node in _nodes(tree["tree_structure"]):
            values = candidates[node["split_feature"]]
            threshold = node["threshold"]
            if isinstance(threshold, str):  # a categorical split: "1||4||7"
                values += [float(c) for c in threshold.split("||")]
            else:
                values += [threshold, np.nextafter(threshold, -np.inf)]
                values.append(np.nextafter(threshold, np.inf))
    rows = np.empty((n, n_features))
    for j, values in enumerate(candidates):
        rows[:, j] = rng.choice(np.asarray(values, np.float64), size=n)
    return rows


def _nodes(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
    stack = [node]
    while stack:
        current = stack.pop()
        if "split_feature" in current:
            yield current
            stack += [current["left_child"], current["right_child"]]


def _build(booster: Any, compiler: str, library: Path) -> None:
    import tl2cgen
    import treelite

    with tempfile.TemporaryDirectory(prefix="prodml-compile-") as tmp:
        source = Path(tmp)
        model = treelite.frontend.from_lightgbm(booster)
        jobs = max(1, os.cpu_count() or 1)
        tl2cgen.generate_c_code(model, dirpath=str(source), params={"parallel_comp": jobs * 2})
        (source / "prodml_shim.c").write_text(_SHIM % {"n": booster.num_feature()})
        units = sorted(source.glob("*.c"))

        def compile_unit(unit: Path) -> Path:
            obj = unit.with_suffix(".o")
            _run([compiler, *_FLAGS, "-c", str(unit), "-o", str(obj)])
            return obj

        with ThreadPoolExecutor(jobs) as pool:  # the compiler processes run in parallel
            objects = list(pool.map(compile_unit, units))
        partial = library.with_name(library.name + ".partial")
        _run([compiler, "-shared", "-o", str(partial), *map(str, objects), "-lm"])
        partial.replace(library)  # never a half-written library under the final name


def _run(command: list[str]) -> None:
    done = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603
    if done.returncode:
        raise ServingError(f"Compiling the trees failed: {' '.join(command)}\n{done.stderr}")


def _compiler() -> str | None:
    return shutil.which(os.environ.get("CC", "cc")) or shutil.which("gcc")


def _compiler_version(compiler: str) -> str:
    done = subprocess.run([compiler, "--version"], capture_output=True, text=True, check=False)  # noqa: S603
    return done.stdout.splitlines()[0] if done.stdout else compiler


@contextlib.contextmanager
def _exclusive(lock: Path) -> Iterator[None]:
    """Hold an exclusive lock on `lock` (a no-op where flock does not exist)."""
    try:
        import fcntl
    except ImportError:  # Windows: two processes may both compile; the rename keeps it sound
        yield
        return
    with lock.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
