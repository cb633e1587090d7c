"""`prodml privacy erase`: a person's records leave the prediction log (live JSON lines and
compacted Parquet), the labels, the overrides and the quarantine; everyone else's stay;
the audit log records the erasure without the value and still verifies; a person who is
not there gets a clear answer, recorded too. On SQLite and PostgreSQL."""

from __future__ import annotations

import json
from io import BytesIO
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml
from fastapi.testclient import TestClient
from typer.testing import CliRunner

import prodml
from prodml.cli import app
from prodml.erasure import erase_subject
from prodml.predlog import PredictionLog
from prodml.serve import create_app
from prodml.store import Label
from prodml.workspace import Workspace
from tests.serve.test_privacy import _customers

ALICE = "alice.subject@example.org"
ROW = {"plan": "pro", "store": "S001", "spend": 80.0}


@pytest.fixture
def history(tmp_path: Path, metadata_url: str):
    """A model whose log holds requests of Alice and of others, some compacted to
    Parquet, labelled and one overridden; and a quarantined row of Alice's."""
    (tmp_path / "prodml.yaml").write_text(yaml.safe_dump({"metadata_url": metadata_url}))
    ws = Workspace.open(tmp_path)
    frame = _customers(3000)
    prodml.ingest(frame, name="customers", workspace=ws)
    late = _customers(1600, seed=5)
    late.loc[0, ["customer_email", "spend"]] = [ALICE, -10.0]  # out of range: quarantined
    assert prodml.ingest(late, name="customers", workspace=ws).report.rejected == 1
    prodml.train_table(
        "customers", label="churned", positive="yes", include=["customer_email"], workspace=ws
    )
    log = PredictionLog(ws.state_dir / "predictions" / "customers", segment_bytes=4000)
    client = TestClient(
        create_app(ws.predictor("customers/1"), log, ws.clock, overrides=ws.overrides)
    )
    ids: dict[str, list[str]] = {"alice": [], "others": []}
    for i in range(40):
        who = "alice" if i % 4 == 0 else "others"
        email = ALICE if who == "alice" else f"other{i}@example.org"
        body = {"rows": [{**ROW, "customer_email": email}]}
        answered = client.post("/v1/predict", json=body).json()
        ids[who].append(answered["request_id"])
    ws.metadata.add_labels(
        "customers",
        [Label(r, 1.0) for r in ids["alice"] + ids["others"]],
        received_at=ws.clock.now(),
    )
    for request_id in (ids["alice"][0], ids["others"][0]):
        override = {"request_id": request_id, "decision": 0, "reason": "checked by hand"}
        assert client.post("/v1/override", json=override).status_code == 200
    log.close()  # compacts the full segments to Parquet; the newest stays JSON lines
    assert any(s.suffix == ".parquet" for s in log.segments())
    assert any(s.suffix == ".jsonl" for s in log.segments())
    yield ws, ids
    ws.close()


def test_a_persons_records_are_erased_everywhere_and_only_theirs(history):
    ws, ids = history
    erasure = erase_subject(ws, "customer_email", ALICE, actor="dpo", reason="DSR-1042")
    assert erasure.predictions == len(ids["alice"]) == 10
    assert (erasure.labels, erasure.overrides, erasure.quarantined) == (10, 1, 1)
    log = ws.prediction_log("customers")
    left = log.read()
    assert set(left["request_id"]) == set(ids["others"])
    assert log.count() == len(ids["others"])
    assert {label.request_id for label in ws.metadata.list_labels("customers")} == set(
        ids["others"]
    )
    assert [o.request_id for o in ws.metadata.list_overrides("customers")] == [ids["others"][0]]
    (ingestion,) = [i for i in ws.metadata.list_ingestions() if i.rejected]
    quarantine = pq.read_table(
        BytesIO(ws.artifacts.get_bytes(f"quarantine/{ingestion.batch_id}.parquet"))
    )
    assert ALICE not in quarantine.column("customer_email").to_pylist()

    event = list(ws.audit.events())[-1]
    assert (event.action, event.actor, event.target, event.reason) == (
        "privacy.erase",
        "dpo",
        "customer_email",
        "DSR-1042",
    )
    said = json.dumps(event.figures) + event.reason
    assert ALICE not in said
    assert ws.redactor.hash(ALICE) not in said
    assert ws.audit.verify().ok
    again = erase_subject(ws, "customer_email", ALICE)
    assert not again.found


def test_erasing_someone_who_is_not_there_says_so_and_is_recorded(history):
    ws, _ = history
    result = CliRunner().invoke(
        app,
        [
            "privacy",
            "erase",
            "--key",
            "customer_email=nobody@example.org",
            "--dir",
            str(ws.project_dir),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "nothing was erased" in " ".join(result.output.split())
    event = list(ws.audit.events())[-1]
    assert event.action == "privacy.erase"
    assert event.figures["predictions"] == 0
    assert "nobody@example.org" not in json.dumps(event.figures)
    assert ws.prediction_log("customers").count() == 40
    bad = CliRunner().invoke(
        app, ["privacy", "erase", "--key", "novalue", "--dir", str(ws.project_dir)]
    )
    assert bad.exit_code == 2
    assert "COLUMN=VALUE" in bad.output
