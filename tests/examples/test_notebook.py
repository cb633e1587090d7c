"""The notebook example end to end: a scikit-learn Pipeline fitted in plain Python goes
through `prodml.register`, then a real `prodml serve`, `score`, the card and monitoring
treat it like a model prodml trained."""

from __future__ import annotations

import runpy
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import prodml
from prodml.cli import app
from prodml.errors import ConfigError
from tests._server import prodml_server

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "notebook" / "churn.py"
runner = CliRunner()


@pytest.fixture(scope="module")
def notebook(tmp_path_factory):
    """The example run as a script in a fresh project folder; its variables."""
    project = tmp_path_factory.mktemp("notebook")
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(project)
        found = runpy.run_path(str(EXAMPLE), run_name="__main__")
    return project, found


def test_the_fitted_pipeline_is_judged_and_becomes_the_champion(notebook):
    project, found = notebook
    registered = found["registered"]
    assert registered.passed
    assert registered.version.aliases == ("champion",)
    figures = {m: e["metrics"]["roc_auc"] for m, e in registered.evaluations.items()}
    assert figures["churn"] > figures["logistic"] > figures["majority"]
    with prodml.open(project) as ws:
        tags = ws.registry.resolve("churn@champion").tags
    assert tags["prodml.snapshot.churn-training"] == found["snapshot"].id  # its data
    # Registered again, the same model is the same version, judged again.
    again = prodml.register(
        found["pipeline"], found["valid"][found["FEATURES"]], found["valid"]["churned"],
        name="churn", workspace=project,
    )  # fmt: skip
    assert again.version.version == registered.version.version


def test_a_real_server_scoring_and_monitoring_take_it_unchanged(notebook, tmp_path):
    project, found = notebook
    new = found["customers"](600, seed=9)
    features = found["FEATURES"]
    expected = prodml.load("churn@champion", workspace=project).predict(
        new[features].head(1).to_dict("records")
    )[0]
    with prodml_server(project, "churn@champion", output=tmp_path / "server.log") as url:
        for i, row in enumerate(new[features].head(200).to_dict("records")):
            answer = httpx.post(
                f"{url}/v1/predict", json={"rows": [row]}, headers={"x-request-id": f"n{i}"}
            )
            assert answer.status_code == 200, answer.text
            if i == 0:
                assert answer.json()["predictions"][0]["probability"] == expected.score
        unknown = httpx.post(f"{url}/v1/predict", json={"rows": [{**row, "region": "mars"}]})
        assert unknown.status_code == 422
    new.iloc[200:].to_csv(tmp_path / "new.csv", index=False)
    here = ("-C", str(project))
    out = tmp_path / "scores.parquet"
    scored = runner.invoke(
        app, ["score", "churn@champion", "-i", str(tmp_path / "new.csv"), "-o", str(out),
              "-k", "customer_id", *here],
    )  # fmt: skip
    assert scored.exit_code == 0, scored.output
    assert len(pd.read_parquet(out)) == 400
    card = runner.invoke(app, ["models", "card", "churn@champion", "-o", str(tmp_path), *here])
    assert card.exit_code == 0, card.output
    text = next(tmp_path.glob("*.md")).read_text()
    assert "Rank customers by their risk of leaving next month" in text
    assert "the rows given to prodml.register, held out by the caller" in text
    monitored = runner.invoke(app, ["monitor", "run", "churn", "--rows", "100", *here])
    assert monitored.exit_code == 0, monitored.output
    with prodml.open(project) as ws:
        assert {f.monitor for f in ws.metadata.list_findings(model_name="churn")} >= {"drift"}


def test_what_cannot_be_registered_is_refused_with_what_to_do(notebook):
    project, found = notebook
    from sklearn.linear_model import LogisticRegression

    x = found["valid"][["tenure_months", "monthly_spend"]]
    with pytest.raises(ConfigError, match=r"is not fitted yet: call \.fit"):
        prodml.register(LogisticRegression(), x, name="raw", workspace=project)
    three = np.resize(["a", "b", "c"], len(x))
    with pytest.raises(ConfigError, match="predicts 3 classes; prodml serves binary"):
        prodml.register(
            LogisticRegression().fit(x, three), x, three, name="multi", workspace=project
        )
    with pytest.raises(ConfigError, match="X must be a pandas DataFrame"):
        prodml.register(found["pipeline"], x.to_numpy(), name="arr", workspace=project)
