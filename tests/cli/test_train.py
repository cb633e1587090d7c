"""`prodml train`: a recipe's pipeline from the newest snapshots, registered; run again
with nothing changed, every step comes from the cache and no version is added."""

import pytest
from typer.testing import CliRunner

from prodml.cli import app
from prodml.data import open_source
from prodml.data.infer import infer_contract
from prodml.workspace import Workspace
from tests._data import nonlinear_examples

runner = CliRunner()


@pytest.fixture
def project(tmp_path, monkeypatch):
    monkeypatch.setenv("COLUMNS", "150")
    path = tmp_path / "exports" / "toy.parquet"
    path.parent.mkdir()
    nonlinear_examples().to_parquet(path, index=False)
    ws = Workspace.open(tmp_path)
    ws.ingest(open_source(path), infer_contract(open_source(path), name="toy", now=ws.clock.now()))
    ws.close()
    return tmp_path


def test_train_registers_then_reuses_every_step(project):
    first = runner.invoke(app, ["train", "tests._data:toy_recipe", "-C", str(project)])
    assert first.exit_code == 0, first.output
    assert "Gate passed. toy version 1 (@champion). 0 of 14 steps from cache" in first.output
    again = runner.invoke(app, ["train", "tests._data:toy_recipe", "-C", str(project)])
    assert "toy version 1 (@champion). 14 of 14 steps from cache" in again.output
    # Registration left the version's drift reference, built from its training rows only.
    reference = Workspace.open(project).reference("toy", "1")
    examples = nonlinear_examples()
    assert reference.rows == (examples["at"] < "2024-04-01").sum()


def test_recipe_mistakes_are_explained(project):
    missing = runner.invoke(app, ["train", "tests._data:nope", "-C", str(project)])
    assert "Cannot import the recipe tests._data:nope" in str(missing.exception)
    pinned = runner.invoke(
        app, ["train", "tests._data:toy_recipe", "-s", "other=1", "-C", str(project)]
    )
    assert "--snapshot names ['other']; tests._data:toy_recipe reads ['toy']" in str(
        pinned.exception
    )


def test_with_nothing_to_train_it_says_what_to_give(project):
    nothing = runner.invoke(app, ["train", "-C", str(project)])
    assert "What should be trained? Give a table and its label" in str(nothing.exception)
