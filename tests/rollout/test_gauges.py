"""A deployment's server exports each arm's share, fallbacks and the analysis' decisions,
and the rollouts dashboard queries nothing else."""

import json
import math
import re
from pathlib import Path

from tests.rollout._traffic import in_process


def test_a_deployments_metrics_carry_its_arms_fallbacks_and_decisions(served, workspace):
    client, deployment = served
    workspace.rollouts.canary("toy-api", "2", actor="ana", steps=(0.5, 1.0))
    deployment.check()
    deployment.routing.predictors["candidate"].scores = lambda rows: [math.nan for _ in rows]
    in_process(client, workspace)
    assert workspace.analysis.tick("toy-api").action == "rollback"
    text = client.get("/metrics").text
    assert 'prodml_deployment_weight{arm="candidate",deployment="toy-api",version="2"} 0.5' in text
    assert re.search(
        r'prodml_fallbacks_total\{arm="candidate",deployment="toy-api",reason="non_finite"\} [1-9]',
        text,
    )
    assert 'action="rollback",actor="analysis",deployment="toy-api"} 1.0' in text
    assert 'prodml_rollout_check{check="errors",deployment="toy-api",verdict="fail"} 1.0' in text


def test_the_rollouts_dashboard_queries_only_what_a_deployments_server_exports(served, workspace):
    client, deployment = served
    workspace.rollouts.canary("toy-api", "2", actor="ana", steps=(0.5, 1.0))
    deployment.check()
    deployment.routing.predictors["candidate"].scores = lambda rows: [math.nan for _ in rows]
    in_process(client, workspace, requests=50)
    workspace.analysis.tick("toy-api")
    dashboard = Path(__file__).parents[2] / "deploy" / "grafana" / "prodml-rollouts.json"
    document = json.loads(dashboard.read_text())
    exprs = [t["expr"] for p in document["panels"] for t in p["targets"]]
    exprs += [v["query"] for v in document["templating"]["list"] if v["type"] == "query"]

    def base(name: str) -> str:
        return re.sub(r"_(total|bucket|sum|count|created)$", "", name)

    queried = {base(m) for e in exprs for m in re.findall(r"prodml_\w+", e)}
    text = client.get("/metrics").text
    exported = {base(m) for m in re.findall(r"^# TYPE (prodml_\w+) ", text, re.MULTILINE)}
    assert queried
    assert queried <= exported
