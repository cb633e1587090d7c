"""Faults injected into a real server process: put this folder's `sitecustomize.py` on
the server's PYTHONPATH with TEST_FAULT (raise, nan, slow or some) and TEST_FAULT_VERSION,
and that version's scores misbehave on every real row (not on the smoke test's row of
missing values, which a fault this blunt would fail before it took traffic)."""

HOOK = """
import os

if os.environ.get("TEST_FAULT"):
    import math
    import random
    import time

    from prodml.serve import predictor as _predictor

    _fault, _version = os.environ["TEST_FAULT"], os.environ["TEST_FAULT_VERSION"]
    _original = _predictor.Predictor.scores

    def _scores(self, rows):
        real = any(v is not None for row in rows for v in row.values())
        if real and self.info.version == _version:
            if _fault == "raise" or (_fault == "some" and random.random() < 0.1):
                raise RuntimeError("injected fault")
            if _fault == "nan":
                return [math.nan] * len(rows)
            # Far past 3x the stable's p99 even on two busy cores: 100 ms was within it
            # once CI's other worker trained a model meanwhile (a p99 over 35 ms).
            if _fault == "slow":
                time.sleep(0.2)
        return _original(self, rows)

    _predictor.Predictor.scores = _scores
"""
