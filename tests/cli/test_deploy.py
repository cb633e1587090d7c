"""`prodml deploy`: a deployment created, a canary started and rolled back from the command
line, with its state and history readable by a person and by a script."""

import json

import numpy as np
from typer.testing import CliRunner

from prodml.cli import app
from prodml.train import fit_model
from tests._data import TOY_SPEC, log_model_run, toy_frame

runner = CliRunner()


def test_a_canary_from_the_command_line_is_recorded_and_rolled_back(workspace):
    rng = np.random.default_rng(0)
    for _ in range(2):
        model = fit_model("logistic", toy_frame(rng, 300), "y", TOY_SPEC)
        workspace.registry.register("toy", log_model_run(workspace, model))
    project = ["-C", str(workspace.project_dir)]

    def deploy(*args: str):
        result = runner.invoke(app, ["deploy", *args, *project])
        assert result.exit_code == 0, result.output
        return result.output

    assert "revision 1: serve toy/1" in deploy(
        "create", "toy-api", "--model", "toy/1", "--actor", "ana"
    )
    deploy("canary", "toy-api", "--candidate", "2", "--steps", "10,100", "--actor", "ana")
    state = json.loads(deploy("status", "toy-api", "--json"))
    assert state["policy"]["kind"] == "canary"
    assert [(a["name"], a["weight"]) for a in state["policy"]["arms"]] == [
        ("candidate", 0.1),
        ("stable", 0.9),
    ]
    rows = [line.split("│") for line in deploy("status", "toy-api").splitlines()]
    assert ["candidate", "2", "10%"] in [[c.strip() for c in r[1:-1]] for r in rows]
    deploy("rollback", "toy-api", "--reason", "too slow", "--actor", "ana")
    changes = json.loads(deploy("history", "toy-api", "--json"))
    assert [(c["action"], c["actor"]) for c in changes] == [
        ("create", "ana"),
        ("canary", "ana"),
        ("rollback", "ana"),
    ]
    assert changes[-1]["reason"] == "too slow"
    assert "toy-api" in deploy("list")


def test_bad_steps_and_an_unknown_deployment_are_explained(workspace):
    project = ["-C", str(workspace.project_dir)]
    bad = runner.invoke(
        app, ["deploy", "canary", "x", "--candidate", "2", "--steps", "a,b", *project]
    )
    assert bad.exit_code == 2
    assert "give percentages" in bad.output
    bad_interval = runner.invoke(
        app, ["deploy", "canary", "x", "--candidate", "2", "--interval", "soon", *project]
    )
    assert bad_interval.exit_code == 2
    assert "give a time such as 60s" in bad_interval.output
    unknown = runner.invoke(app, ["deploy", "status", "nowhere", *project])
    assert unknown.exit_code != 0  # the entry point prints the error's message
    assert "No deployment named 'nowhere'" in str(unknown.exception)


def test_tick_pause_and_resume_from_the_command_line(workspace):
    rng = np.random.default_rng(0)
    for _ in range(2):
        model = fit_model("logistic", toy_frame(rng, 300), "y", TOY_SPEC)
        workspace.registry.register("toy", log_model_run(workspace, model))
    project = ["-C", str(workspace.project_dir)]

    def deploy(*args: str):
        result = runner.invoke(app, ["deploy", *args, *project])
        assert result.exit_code == 0, result.output
        return result.output

    deploy("create", "toy-api", "--model", "toy/1")
    assert json.loads(deploy("tick", "toy-api", "--json"))["action"] == "idle"
    deploy("canary", "toy-api", "--candidate", "2", "--interval", "10m")
    assert workspace.rollouts.status("toy-api")[1].step_seconds == 600
    deploy("pause", "toy-api", "--reason", "holiday traffic")
    assert "paused by" in deploy("tick", "toy-api")
    resumed = json.loads(deploy("resume", "toy-api", "--json"))
    assert (resumed["action"], resumed["policy"]["paused"]) == ("resume", False)
    decided = json.loads(deploy("tick", "toy-api", "--json"))
    assert decided["action"] == "hold"  # no traffic yet: every check abstains
    assert {c["verdict"] for c in decided["checks"]} == {"abstain"}
    assert "checks" in deploy("status", "toy-api")


def test_watch_waits_while_a_server_judges_then_takes_its_turn(workspace):
    model = fit_model("logistic", toy_frame(np.random.default_rng(0), 300), "y", TOY_SPEC)
    workspace.registry.register("toy", log_model_run(workspace, model))
    workspace.rollouts.create("toy-api", "toy/1", actor="ana")
    # a server judging toy-api, whose lease runs out in 3 s (half a second ran out before
    # the command's first look when CI's other worker loaded the machine)
    assert workspace.metadata.hold_lease("rollout-analysis:toy-api", "server", seconds=3)
    args = ["deploy", "watch", "toy-api", "--interval", "0.2s", "--json"]
    result = runner.invoke(app, [*args, "-C", str(workspace.project_dir)])
    assert result.exit_code == 0, result.output
    assert "A server is judging toy-api now" in result.output
    assert json.loads(result.output[result.output.index("{") :])["action"] == "idle"
