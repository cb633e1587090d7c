"""Registering a gated model: lineage and verdict on the version, the alias it earned, the
same version again for the same fit, and a model card a person can read."""

import mlflow

from prodml.registry.card import build_card, card_html
from prodml.registry.promotion import register_result
from tests._data import nonlinear_examples, toy_train, toy_train_spec


def test_the_first_passing_model_becomes_champion_and_keeps_its_version(workspace):
    examples = nonlinear_examples()
    result = toy_train(workspace, toy_train_spec(), examples)
    version = register_result(result, "toy", workspace.registry, workspace.tracker, first=True)
    assert version.aliases == ("champion",)
    tags = (
        mlflow.MlflowClient(workspace.tracking_uri).get_model_version("toy", version.version).tags
    )
    assert tags["prodml.gate.passed"] == "true"
    assert tags["prodml.snapshot.toy"] == "cd" * 32
    # Retrained with nothing changed: judged against itself, the same version, still champion.
    again = toy_train(workspace, toy_train_spec(), examples)
    assert again.gate["comparisons"][-1]["role"] == "champion"
    same = register_result(again, "toy", workspace.registry, workspace.tracker, first=False)
    assert same.version == version.version
    assert same.aliases == ("champion",)


def test_a_model_that_fails_the_gate_is_registered_without_an_alias(workspace):
    examples = nonlinear_examples()
    toy = toy_train_spec(gate_margin=0.0)
    first = toy_train(workspace, toy, examples)
    register_result(first, "toy", workspace.registry, workspace.tracker, first=True)
    # Far fewer rounds: clearly worse than the champion, so no alias, but a recorded verdict.
    from prodml.train.tabular import Candidate

    weak = toy_train_spec(candidates=(Candidate("lightgbm", "lightgbm", {"num_boost_round": 1}),))
    result = toy_train(workspace, weak, examples)
    assert not result.gate["passed"]
    version = register_result(result, "toy", workspace.registry, workspace.tracker, first=False)
    assert version.aliases == ()
    assert version.tags["prodml.gate.passed"] == "false"


def test_the_model_card_tells_a_reader_what_they_need(workspace):
    result = toy_train(workspace, toy_train_spec(), nonlinear_examples())
    version = register_result(result, "toy", workspace.registry, workspace.tracker, first=True)
    card = build_card(version, workspace.tracking_uri)
    assert card.startswith("---\nmodel: toy\n")
    for heading in (
        "Intended use",
        "Data",
        "Features",
        "Performance",
        "Against the baselines",
        "Per slice",
        "Calibration",
        "Known limitations",
        "Lineage",
    ):
        assert f"## {heading}" in card
    assert "Ranking toy rows for review." in card
    assert "Trained on generated data." in card
    assert "cd" * 32 in card
    assert "| color = red |" in card
    html = card_html(card)
    assert "<table>" in html
    assert "<h2>Intended use</h2>" in html
    artifacts = mlflow.MlflowClient(workspace.tracking_uri).list_artifacts(version.run_id, "card")
    assert {a.path for a in artifacts} == {"card/model_card.md", "card/model_card.html"}


def test_a_failure_after_registering_leaves_a_whole_version_and_a_rerun_completes(
    workspace, monkeypatch
):
    import pytest

    from prodml.errors import StoreUnavailableError

    result = toy_train(workspace, toy_train_spec(), nonlinear_examples())
    real = workspace.registry.set_alias

    def down(*args, **kwargs):
        raise StoreUnavailableError("the registry went away")

    monkeypatch.setattr(workspace.registry, "set_alias", down)
    with pytest.raises(StoreUnavailableError):
        register_result(result, "toy", workspace.registry, workspace.tracker, first=True)
    (version,) = workspace.registry.list_versions()
    assert version.tags["prodml.gate.passed"] == "true"  # lineage and verdict came with it
    assert version.aliases == ()
    monkeypatch.setattr(workspace.registry, "set_alias", real)
    done = register_result(result, "toy", workspace.registry, workspace.tracker, first=True)
    assert done.version == version.version
    assert done.aliases == ("champion",)
