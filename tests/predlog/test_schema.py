"""Every writer of the prediction log writes the one record shape readers rely on."""

from typing import get_type_hints

import numpy as np
import pyarrow as pa
import pytest

from prodml.predlog import ARROW_TYPES, PredictionLog, PredictionRecord, RejectRecord, arrow_table
from prodml.serve import score_file
from prodml.serve.answering import answer
from tests._data import toy_frame

FIELDS = set(get_type_hints(PredictionRecord))
REQUIRED = PredictionRecord.__required_keys__
REJECT_FIELDS = set(get_type_hints(RejectRecord))


@pytest.fixture
def predictor(conformal_predictor):
    return conformal_predictor


def test_served_and_batch_records_share_one_schema(predictor, clock, tmp_path):
    log = PredictionLog(tmp_path / "log")
    rows = [{"color": "red", "size": 0.3, "noise": None}, {"color": "blue", "size": -1.0}]
    with log:
        answer(predictor, rows, "req-1", log=log, clock=clock, channel="http")
        source = tmp_path / "in.parquet"
        toy_frame(np.random.default_rng(2), 50).to_parquet(source)
        score_file(predictor, source, tmp_path / "out.parquet", log=log)
    records = log.read()
    assert set(records.columns) <= FIELDS
    assert set(records.columns) >= REQUIRED
    assert set(records["channel"]) == {"http", "batch"}
    assert records["inputs"].map(lambda r: set(r) <= {"color", "size", "noise"}).all()


def test_refused_rows_of_every_writer_share_one_schema(predictor, clock, tmp_path):
    from fastapi.testclient import TestClient

    from prodml.serve import create_app

    log = PredictionLog(tmp_path / "log")
    with log:
        client = TestClient(create_app(predictor, log, clock))
        assert client.post("/v1/predict", json={"rows": [{"color": "teal"}]}).status_code == 422
        source = tmp_path / "in.parquet"
        toy_frame(np.random.default_rng(2), 50).astype({"color": object}).assign(
            color="teal"
        ).to_parquet(source)
        score_file(predictor, source, tmp_path / "out.parquet", log=log)
    records = log.read()
    # Outside a deployment, nothing routing-related (deployment, arm) is written.
    assert set(records.columns) == RejectRecord.__required_keys__
    assert RejectRecord.__required_keys__ <= REJECT_FIELDS
    assert set(records["channel"]) == {"http", "batch"}
    assert records["rejected"].map(lambda r: "color: unknown category" in r).all()


def test_the_arrow_types_cover_every_scalar_field():
    scalar = (FIELDS | REJECT_FIELDS) - {"inputs", "features", "sent"}
    assert set(ARROW_TYPES) == scalar


def test_a_table_with_a_field_outside_the_schema_is_refused():
    with pytest.raises(ValueError, match=r"not prediction record fields: \['score'\]"):
        arrow_table({"request_id": pa.array(["a"]), "score": pa.array([0.5])})


def test_readers_import_the_log_without_the_serving_stack():
    import subprocess
    import sys

    probe = (
        "import sys, prodml.predlog; print(any(m in sys.modules for m in ('fastapi', 'uvicorn')))"
    )
    shown = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert shown.stdout.strip() == "False", shown.stderr
