"""The reference as saved: CBPE's estimator (map, bootstrap refits, measured error) comes
back as it went in, and a file written before those fields existed still loads."""

import io
import json

import numpy as np
import pandas as pd

from prodml.monitor import Reference
from prodml.monitor.estimate import calibrate, estimate


def _reference(rng) -> Reference:
    frame = pd.DataFrame({"size": rng.normal(size=3_000), "color": rng.choice(["a", "b"], 3_000)})
    score = rng.random(3_000)
    estimator = calibrate(score, (rng.random(3_000) < score).astype(float))
    reference = Reference.from_frame(frame)
    return Reference(reference.columns, reference.rows, estimator, reference.sample)


def test_the_estimator_with_its_refits_and_measured_error_round_trips(rng):
    reference = _reference(rng)
    loaded = Reference.from_bytes(reference.to_bytes())
    assert loaded.estimator == reference.estimator
    assert len(loaded.estimator["maps"]) == 20
    assert loaded.estimator["error"]["windows"] == 10
    assert set(loaded.estimator["error"]["roc_auc"]) == {"mae", "bias", "spread", "coverage"}


def test_a_reference_saved_before_the_estimate_had_a_range_still_loads_and_estimates(rng):
    saved = _reference(rng).to_bytes()
    # Rewrite the file as older versions wrote it: the map alone, no errors or fairness.
    with np.load(io.BytesIO(saved), allow_pickle=False) as data:
        arrays = {key: data[key] for key in data.files}
    meta = json.loads(arrays["meta"].tobytes())
    meta["estimator"] = {"x": meta["estimator"]["x"], "y": meta["estimator"]["y"]}
    del meta["errors"], meta["fairness"]
    arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    old = Reference.from_bytes(buffer.getvalue())
    assert old.errors is None
    assert old.fairness is None
    assert "error" not in old.estimator
    score = rng.random(1_000)
    found = estimate(old.estimator, score, score >= 0.5)
    assert found["roc_auc.low"] < found["roc_auc"] < found["roc_auc.high"]
