"""Personal data sent to the API never lands in clear in anything prodml writes: a column
its contract tags `pii`, a field the model does not know, and any value that looks like an
e-mail address or a phone number are logged as keyed hashes, and refusals do not quote
them; the same value hashes the same way, so whoever holds the key can find it again."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, inspect, text

import prodml
from prodml.govern.privacy import PREFIX
from prodml.serve import create_app
from prodml.workspace import Workspace

# Values only ever sent in requests, never in the training data.
SENT = {
    "email": "alice.private@example.org",
    "phone": "+44 20 7946 0958",
    "in_a_category": "bob.private@example.org",
    "in_a_number": "carol.private@example.org",
    "in_open_text": "dave.private@example.org",
    "unknown_field": "erin-secret-passport-X1234567",
}


def _customers(n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "customer_email": [f"user{i}@shop.example" for i in range(n)],
            "phone": [f"+1 555 01{i % 100:02d} {i % 7}{i % 9}" for i in range(n)],
            "plan": rng.choice(["basic", "pro"], n),
            "store": [f"S{i % 60:03d}" for i in range(n)],  # many values: open vocabulary
            "spend": rng.gamma(2.0, 30.0, n).round(2),
        }
    )
    logit = (frame["spend"] - 60) / 30 + (frame["plan"] == "pro")
    frame["churned"] = np.where(rng.random(n) < 1 / (1 + np.exp(-logit)), "yes", "no")
    return frame


@pytest.fixture
def served(tmp_path: Path, metadata_url: str):
    (tmp_path / "prodml.yaml").write_text(yaml.safe_dump({"metadata_url": metadata_url}))
    ws = Workspace.open(tmp_path)
    prodml.ingest(_customers(3000), name="customers", workspace=ws)
    prodml.train_table(
        "customers", label="churned", positive="yes", include=["customer_email"], workspace=ws
    )
    log = ws.prediction_log("customers")
    client = TestClient(create_app(ws.predictor("customers/1"), log, ws.clock))
    yield ws, client, tmp_path
    log.close()
    ws.close()


def test_no_personal_value_sent_is_written_anywhere_in_clear(served, metadata_url):
    ws, client, folder = served
    good = {"customer_email": SENT["email"], "plan": "pro", "store": "S001", "spend": 80.0}
    answered = client.post("/v1/predict", json={"rows": [good]})
    assert answered.status_code == 200, answered.text
    opentext = {**good, "customer_email": None, "store": SENT["in_open_text"]}
    assert client.post("/v1/predict", json={"rows": [opentext]}).status_code == 200
    everywhere = {
        "customer_email": SENT["email"],
        "plan": SENT["in_a_category"],
        "store": SENT["phone"],
        "spend": SENT["in_a_number"],
        "passport": SENT["unknown_field"],
    }
    refused = client.post("/v1/predict", json={"rows": [everywhere]})
    assert refused.status_code == 422
    for value in SENT.values():
        assert value not in refused.text  # the refusal names the fields, not the values
    assert {tuple(e["loc"][-1:]) for e in refused.json()["detail"]} >= {
        ("plan",),
        ("spend",),
        ("passport",),
    }
    ws.prediction_log("customers").close()

    records = ws.prediction_log("customers").read().to_dict("records")
    logged = records[0]["inputs"]["customer_email"]
    assert logged == ws.redactor.hash(SENT["email"])  # found again by whoever holds the key
    assert logged.startswith(PREFIX)
    (reject,) = [r for r in records if isinstance(r.get("sent"), dict)]
    assert reject["sent"]["passport"] == ws.redactor.hash(SENT["unknown_field"])

    written = b"".join(p.read_bytes() for p in Path(folder).rglob("*") if p.is_file())
    if metadata_url.startswith("postgresql"):
        written += _database_text(metadata_url).encode()
    for name, value in SENT.items():
        assert value.encode() not in written, f"{name} was written in clear"


def _database_text(url: str) -> str:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            tables = inspect(conn).get_table_names()
            return "".join(
                str(row)
                for table in tables
                for row in conn.execute(text(f'SELECT * FROM "{table}"'))  # noqa: S608 (our tables)
            )
    finally:
        engine.dispose()


def test_a_batch_scored_file_logs_personal_columns_only_hashed(served, tmp_path):
    from prodml.serve import score_file

    ws, _, _ = served
    rows = pd.DataFrame(
        {
            "customer_email": [SENT["email"], "frank.private@example.org"],
            "plan": ["pro", "enterprise"],  # the second is refused: an unknown plan
            "store": ["S001", "S002"],
            "spend": [80.0, 20.0],
        }
    )
    source = tmp_path / "batch.csv"
    rows.to_csv(source, index=False)
    log = ws.prediction_log("customers-batch")
    score_file(ws.predictor("customers/1"), source, tmp_path / "out.parquet", log=log)
    log.close()
    records = log.read().to_dict("records")
    answered = next(r for r in records if isinstance(r.get("inputs"), dict))
    refused = next(r for r in records if isinstance(r.get("sent"), dict))
    assert answered["inputs"]["customer_email"] == ws.redactor.hash(SENT["email"])
    assert refused["sent"]["customer_email"] == ws.redactor.hash("frank.private@example.org")
    written = b"".join(p.read_bytes() for p in log.folder.rglob("*") if p.is_file())
    assert SENT["email"].encode() not in written
    assert b"frank.private@example.org" not in written
