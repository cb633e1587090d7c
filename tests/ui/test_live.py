"""A deployment's page reads its real server's own /metrics: how many requests it answered,
and between two looks their rate, share failed and p99; a server that does not answer
is named with what to run."""

import re
import time

import httpx
from starlette.testclient import TestClient

from prodml.ui import create_ui
from prodml.ui.live import LiveMetrics
from tests._server import prodml_server
from tests.automate._world import DEPLOYMENT, MODEL


def _predict(url: str, n: int) -> None:
    with httpx.Client(base_url=url, timeout=10) as client:
        for i in range(n):
            row = {"color": "red", "size": i / n, "noise": 0.0}
            assert client.post("/v1/predict", json={"rows": [row]}).status_code == 200
        bad = client.post("/v1/predict", json={"rows": [{"color": 3}]})
        assert bad.status_code == 422


def test_the_deployment_page_shows_its_servers_live_figures(registered, tmp_path):
    project = registered.project_dir
    (project / "prodml.yaml").write_text("ui:\n  in_server: true\n")
    with prodml_server(project, "--deployment", DEPLOYMENT, output=tmp_path / "s.log") as url:
        # The server also serves the console under /ui, its links and stylesheet there too.
        mounted = httpx.get(f"{url}/ui/models")
        assert mounted.status_code == 200
        assert f'href="{url}/ui/models/{MODEL}"' in mounted.text
        assert httpx.get(f"{url}/ui/static/style.css").status_code == 200
        _predict(url, 30)
        registered.settings = registered.settings.model_copy(
            update={"ui": registered.settings.ui.model_copy(update={"servers": [url]})}
        )
        with TestClient(create_ui(registered)) as console:
            first = console.get(f"/deployments/{DEPLOYMENT}").text
            live = first[first.index('id="live"') :]
            assert "since it started" in live
            assert "<td>31</td>" in live  # 30 answered and one refused
            time.sleep(1.0)
            _predict(url, 20)
            second = console.get(f"/deployments/{DEPLOYMENT}").text
            live = second[second.index('id="live"') :]
            assert re.search(r"the last \d+ s</td>", live), live
            assert "<td>21</td>" in live
            assert "4.76%" in live  # 1 of 21 refused
            assert "≤ " in live  # a p99 bound in ms


def test_a_server_that_does_not_answer_is_named():
    (found,) = LiveMetrics(["http://127.0.0.1:9"]).look(MODEL, DEPLOYMENT)
    assert found.problem.startswith("no answer")
    assert found.latency == "—"
