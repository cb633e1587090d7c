"""The front door `import prodml` exposes: each name importable, documented, and working."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

import prodml
from prodml.errors import DataValidationError


def _orders(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "order_id": np.arange(n) + seed * 1_000_000,
            "basket": rng.gamma(2.0, 40.0, n).round(2),
            "items": rng.integers(1, 12, n),
            "channel": rng.choice(["web", "app", "store"], n),
        }
    )
    risky = (frame["items"] > 8) & (frame["channel"] != "store") | (frame["basket"] > 200)
    frame["returned"] = (rng.random(n) < np.where(risky, 0.7, 0.1)).astype(int)
    return frame


def test_every_front_door_name_is_documented_and_import_stays_light():
    for name in prodml.__all__:
        assert getattr(prodml, name).__doc__ or name == "__version__", name
    probe = "import sys, prodml; print('mlflow' in sys.modules, 'sklearn' in sys.modules)"
    shown = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert shown.stdout.split() == ["False", "False"]


def test_ingest_infers_a_contract_once_then_checks_later_batches_against_it(tmp_path):
    first = prodml.ingest(_orders(3000, 0), name="orders", workspace=tmp_path)
    assert (tmp_path / "orders.contract.yaml").exists()
    assert first.snapshot.num_rows == 3000
    later = _orders(2000, 1).assign(channel="fax")  # a category the contract never saw
    with pytest.raises(DataValidationError, match="channel"):
        prodml.ingest(later, name="orders", workspace=tmp_path)


def test_train_on_an_ingested_frame_registers_a_servable_champion(tmp_path):
    with prodml.open(tmp_path) as ws:
        prodml.ingest(_orders(4000, 0), name="orders", workspace=ws)
        registered = prodml.train_table("orders", label="returned", workspace=ws, seed=3)
        assert registered.passed
        assert registered.version.aliases == ("champion",)
        predictor = prodml.load("orders@champion", workspace=ws)
        (answer,) = predictor.predict([{"basket": 250.0, "items": 3, "channel": "web"}])
    assert 0.0 <= answer.score <= 1.0
    assert "order_id" not in predictor.model.spec.names  # a key is not a feature
