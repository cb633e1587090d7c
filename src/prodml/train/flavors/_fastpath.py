"""One-row LightGBM prediction through the C API's fast path.

`Booster.predict` spends most of a one-row call in Python: argument checks, a config
string parsed per call, array conversion. LightGBM's ``PredictForMatSingleRowFast`` parses
its config once (``...FastInit``) and then runs the trees straight on a float64 row: the
same library and the same trees, so the same numbers as `Booster.predict`, several times
faster. A fast config is not safe to share between threads, hence the lock.
"""

from __future__ import annotations

import ctypes
import threading
from typing import Any

import numpy as np
from lightgbm.basic import _LIB, _safe_call

_PREDICT_NORMAL = 0  # C_API_PREDICT_NORMAL: the transformed score (probability, value)
_DTYPE_FLOAT64 = 1  # C_API_DTYPE_FLOAT64
_PROTOTYPE = ctypes.CFUNCTYPE(
    ctypes.c_int,  # 0, or -1 with the message in LGBM_GetLastError
    ctypes.c_void_p,  # the fast config
    ctypes.c_char_p,  # the row's data, as bytes: cheaper than asking numpy for an address
    ctypes.c_void_p,  # int64_t* out_len
    ctypes.POINTER(ctypes.c_double),  # double* out_result
)


class SingleRowBooster:
    """``predict(row)`` for one row of `n_features` packed float64s, with one thread."""

    def __init__(self, booster: Any, n_features: int) -> None:
        self._booster = booster  # keeps the C booster alive as long as the fast config
        self._n_features = n_features
        self._config = ctypes.c_void_p()
        _safe_call(
            _LIB.LGBM_BoosterPredictForMatSingleRowFastInit(
                booster._handle,
                ctypes.c_int(_PREDICT_NORMAL),
                ctypes.c_int(0),  # start iteration
                ctypes.c_int(-1),  # every iteration the saved model holds
                ctypes.c_int(_DTYPE_FLOAT64),
                ctypes.c_int32(n_features),
                ctypes.c_char_p(b"num_threads=1"),
                ctypes.byref(self._config),
            )
        )
        self._out = np.zeros(1, dtype=np.float64)
        self._out_ptr = self._out.ctypes.data_as(ctypes.POINTER(ctypes.c_double))
        self._out_len = ctypes.c_int64()
        self._out_len_ref = ctypes.byref(self._out_len)
        self._lock = threading.Lock()
        # A typed prototype of our own (lightgbm's shared handle stays untouched): ctypes
        # then converts the plain integer address without building objects per call.
        address = ctypes.cast(_LIB.LGBM_BoosterPredictForMatSingleRowFast, ctypes.c_void_p)
        self._call = _PROTOTYPE(int(address.value or 0))

    def predict(self, row: bytes) -> float:
        """The score of one row: `n_features` native float64s (`TabularEncoder.pack_row`)."""
        if len(row) != 8 * self._n_features:
            raise ValueError(f"row must be {self._n_features} float64 values ({len(row)} bytes).")
        with self._lock:
            _safe_call(self._call(self._config, row, self._out_len_ref, self._out_ptr))
            return float(self._out[0])

    def __del__(self) -> None:
        if self._config:
            _LIB.LGBM_FastConfigFree(self._config)
            self._config = ctypes.c_void_p()
