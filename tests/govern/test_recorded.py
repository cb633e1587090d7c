"""What the audit log records of a project's writes: an ingestion, a registration, an
alias moved by a person, a rollout's every change (its automatic decisions too), each
with who, what, on what and why, in one chain that verifies."""

import numpy as np

from prodml.data import open_source
from prodml.train import fit_model
from tests._data import TOY_SPEC, log_model_run, toy_frame
from tests.data._contracts import orders, orders_contract


def test_a_projects_writes_are_recorded_in_order_with_who_and_why(workspace):
    workspace.ingest(open_source(orders(10)), orders_contract())
    rng = np.random.default_rng(0)
    for _ in range(2):
        model = fit_model("logistic", toy_frame(rng, 300), "y", TOY_SPEC)
        workspace.registry.register("toy", log_model_run(workspace, model), actor="ci")
    workspace.registry.promote("toy/1", "champion", now=workspace.clock.now(), actor="ana")
    workspace.rollouts.create("toy-api", "toy@champion", actor="ana")
    workspace.rollouts.canary("toy-api", "2", actor="ana", reason="retrained on June")
    workspace.rollouts.promote("toy-api", actor="lead", reason="checks passed")
    events = list(workspace.audit.events())
    assert [(e.actor, e.action, e.target) for e in events[1:]] == [
        ("ci", "model.register", "toy/1"),
        ("ci", "model.register", "toy/2"),
        ("ana", "alias.move", "toy@champion"),
        ("ana", "deployment.create", "deployment/toy-api"),
        ("ana", "deployment.canary", "deployment/toy-api"),
        ("lead", "deployment.promote", "deployment/toy-api"),
        ("lead", "alias.move", "toy@champion"),
    ]
    ingested = events[0]
    assert ingested.action == "data.ingest"
    assert ingested.figures["rows"] == 10
    assert events[5].reason == "retrained on June"
    assert events[5].figures["policy"]["kind"] == "canary"
    assert events[-1].figures == {"version": "2"}
    assert [e.seq for e in workspace.audit.events(target="toy")] == [2, 3, 4, 8]
    assert workspace.audit.verify().ok


def test_a_contract_changed_between_ingestions_is_recorded_with_both_versions(workspace):
    first = orders_contract()
    workspace.ingest(open_source(orders(10)), first)
    changed = first.model_copy(update={"max_reject_fraction": 0.2})
    assert changed.version != first.version
    workspace.ingest(open_source(orders(12)), changed)
    (event,) = [e for e in workspace.audit.events() if e.action == "contract.change"]
    assert event.target == f"contract/{first.name}"
    assert event.figures == {"from": first.version, "to": changed.version}
    workspace.ingest(open_source(orders(14)), changed)  # the same contract again: nothing new
    assert [e.action for e in workspace.audit.events()].count("contract.change") == 1
