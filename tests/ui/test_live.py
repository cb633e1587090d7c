"""A deployment's page finds its real servers by their presence and reads their own
/metrics: how many requests each answered, and between two looks their rate, share failed
and p99; a server that does not answer is named, and with none the page says what to run."""

import re
import socket
import time

import httpx
from starlette.testclient import TestClient

from prodml.serve.presence import Presence, advertised_url, announced
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
        # No list in the settings: the console finds the server by its presence.
        assert registered.settings.ui.servers == []
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
            assert f"<code>{url}</code>" in live
    # Stopped, the server withdrew: the page says how to start one.
    gone = TestClient(create_ui(registered)).get(f"/deployments/{DEPLOYMENT}").text
    assert f"start one with <code>prodml serve --deployment {DEPLOYMENT}</code>" in gone


def test_a_server_announces_itself_until_it_stops_and_a_dead_one_drops_out(registered):
    first = Presence(registered.metadata, DEPLOYMENT, "http://10.0.0.1:8000").start()
    second = Presence(registered.metadata, DEPLOYMENT, "http://10.0.0.2:8000", every=0.1)
    second.start()
    other = Presence(registered.metadata, "another", "http://10.0.0.3:8000").start()
    assert announced(registered.metadata, DEPLOYMENT) == [
        "http://10.0.0.1:8000",
        "http://10.0.0.2:8000",
    ]
    first.stop()
    second._stop.set()  # dies without withdrawing: gone once its lease runs out
    time.sleep(0.5)
    assert announced(registered.metadata, DEPLOYMENT) == []
    assert announced(registered.metadata, "another") == ["http://10.0.0.3:8000"]
    other.stop()


def test_a_wildcard_host_is_advertised_by_this_machines_name():
    assert advertised_url("127.0.0.1", 8000) == "http://127.0.0.1:8000"
    assert advertised_url("0.0.0.0", 8000) == f"http://{socket.gethostname()}:8000"  # noqa: S104
    assert advertised_url("::1", 8000) == "http://[::1]:8000"
    assert advertised_url("0.0.0.0", 8000, "http://10.1.2.3:8000/") == "http://10.1.2.3:8000"  # noqa: S104


def test_a_server_that_does_not_answer_is_named():
    (found,) = LiveMetrics().look(MODEL, DEPLOYMENT, ["http://127.0.0.1:9"])
    assert found.problem.startswith("no answer")
    assert found.latency == "—"
