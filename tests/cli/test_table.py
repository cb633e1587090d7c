"""A table that is not flights, from CSV to a monitored model with no Python written:
`data infer` → `data ingest` → `train --data` → `serve` → `score` → `monitor run`."""

from __future__ import annotations

import json

import httpx
import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from prodml.cli import app
from prodml.workspace import Workspace
from tests._server import prodml_server

runner = CliRunner()


def churn_table(n: int, seed: int) -> pd.DataFrame:
    """Customers with an id, an e-mail (PII), a plan, usage figures, a signup time and
    whether they churned ("yes"/"no"), with an interaction a linear model cannot fit."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "customer_id": [f"C{seed}-{i:06d}" for i in range(n)],
            "email": [f"user{seed}.{i}@example.com" for i in range(n)],
            "plan": rng.choice(["basic", "pro", "team"], n, p=[0.5, 0.3, 0.2]),
            "tenure_months": rng.integers(1, 60, n),
            "monthly_spend": rng.gamma(2.0, 30.0, n).round(2),
            "support_tickets": rng.poisson(1.5, n),
            "signup_at": pd.Timestamp("2024-01-01", tz="UTC")
            + pd.to_timedelta(rng.integers(0, 365 * 24, n), unit="h"),
        }
    )
    unusual_spend = (frame["monthly_spend"] < 25) | (frame["monthly_spend"] > 110)
    new = frame["tenure_months"] < 24
    unhelped = (frame["support_tickets"] >= 3) & (frame["plan"] != "team")
    logit = -2.5 + 3.0 * (unusual_spend & new) + 2.0 * unhelped
    frame["churned"] = np.where(rng.random(n) < 1 / (1 + np.exp(-logit)), "yes", "no")
    return frame


@pytest.fixture
def project(tmp_path, monkeypatch):
    monkeypatch.setenv("COLUMNS", "160")
    churn_table(6000, seed=1).to_csv(tmp_path / "churn.csv", index=False)
    return tmp_path


def _ingest(project, name: str) -> None:
    """`prodml data infer` then `prodml data ingest` of `project/NAME.csv`."""
    table, contract = str(project / f"{name}.csv"), str(project / f"{name}.contract.yaml")
    _cli("data", "infer", table, "--name", name, "-o", contract)
    _cli("data", "ingest", table, "-c", contract, "-C", str(project))


def _cli(*args: str) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, f"{result.output}\n{result.exception!r}"
    return result.output


def test_a_csv_goes_to_a_served_monitored_model_with_no_python(project, tmp_path):
    here = ("-C", str(project))
    _ingest(project, "churn")

    trained = _cli("train", "--data", "churn", "--label", "churned", *here)
    assert "Task: classification of 'churned'." in trained
    assert "Positive class (scored as 1): 'yes'." in trained
    assert "customer_id (a key)" in trained
    assert "email (PII: email)" in trained
    assert "Split: by time: signup_at from" in trained
    assert "Gate passed. churn version 1 (@champion)" in trained

    later = churn_table(400, seed=2)
    fields = ["plan", "tenure_months", "monthly_spend", "support_tickets"]
    with prodml_server(project, "churn@champion", output=tmp_path / "server.log") as url:
        schema = httpx.get(f"{url}/openapi.json").json()
        assert "email" not in json.dumps(schema)  # PII never became a request field
        for i, row in enumerate(later[fields].to_dict("records")[:200]):
            answer = httpx.post(
                f"{url}/v1/predict", json={"rows": [row]}, headers={"x-request-id": f"c{i}"}
            )
            assert answer.status_code == 200, answer.text
            assert 0.0 <= answer.json()["predictions"][0]["probability"] <= 1.0
        bad = httpx.post(f"{url}/v1/predict", json={"rows": [{**row, "plan": "gold"}]})
        assert bad.status_code == 422
        assert "plan" in bad.text
        truth = [
            {"request_id": f"c{i}", "label": int(y == "yes")}
            for i, y in enumerate(later["churned"][:200])
        ]
        assert httpx.post(f"{url}/v1/feedback", json={"labels": truth}).status_code == 200

    later.iloc[200:].to_csv(tmp_path / "new.csv", index=False)
    scored = tmp_path / "scores.parquet"
    _cli("score", "churn@champion", "-i", str(tmp_path / "new.csv"), "-o", str(scored),
         "-k", "customer_id", *here)  # fmt: skip
    assert list(pd.read_parquet(scored)["customer_id"]) == list(later["customer_id"][200:])

    _cli("monitor", "run", "churn", "--rows", "100", *here)
    with Workspace.open(project) as ws:
        monitors = {f.monitor for f in ws.metadata.list_findings(model_name="churn")}
    assert {"drift", "performance"} <= monitors


def test_training_on_a_table_explains_what_it_cannot_do(project):
    here = ("-C", str(project))
    _ingest(project, "churn")
    no_label = runner.invoke(app, ["train", "--data", "churn", *here])
    assert "Which column of 'churn' should the model predict?" in str(no_label.exception)
    unknown = runner.invoke(app, ["train", "--data", "churn", "--label", "churn", *here])
    assert "--label names column(s) ['churn'] that 'churn' does not have" in str(unknown.exception)
    absent = runner.invoke(app, ["train", "--data", "orders", "--label", "x", *here])
    assert "No snapshot of 'orders' has been ingested" in str(absent.exception)
    baseline = runner.invoke(
        app, ["train", "--data", "churn", "--label", "churned", "--candidates", "logistic", *here]
    )
    refused = str(baseline.exception)
    assert "'logistic' is a baseline every model is already judged against" in refused
    assert "as a candidate it needs --tune N" in refused


def test_a_table_without_time_gets_a_seeded_stratified_split(project):
    here = ("-C", str(project))
    frame = churn_table(3000, seed=3).drop(columns=["signup_at"])
    frame.to_csv(project / "plain.csv", index=False)
    _ingest(project, "plain")
    trained = _cli("train", "--data", "plain", "--label", "churned", "--seed", "7", *here)
    assert "Split: seeded stratified random split (seed 7): 20% of the rows held out." in trained
    with Workspace.open(project) as ws:
        card = json.loads(ws.registry.resolve("plain/1").tags["prodml.card"])
    assert card["split"].startswith("seeded stratified random split")
    assert card["data"]["valid"]["rows"] == 600
    # The recorded table config rebuilds the same model from the same snapshot.
    again = _cli("models", "reproduce", "plain/1", *here)
    assert "plain/1: predictions on 600 validation rows are identical" in again


def test_the_training_section_of_prodml_yaml_trains_with_no_options(project):
    here = ("-C", str(project))
    _ingest(project, "churn")
    (project / "prodml.yaml").write_text(
        "training:\n  data: churn\n  label: churned\n  model: churn-yaml\n  valid_fraction: 0.25\n"
    )
    trained = _cli("train", *here)
    assert "Gate passed. churn-yaml version 1 (@champion)" in trained
    with Workspace.open(project) as ws:
        card = json.loads(ws.registry.resolve("churn-yaml/1").tags["prodml.card"])
    assert card["data"]["valid"]["rows"] < card["data"]["train"]["rows"]
