"""The console over a year of replayed history (issue 20: every page under 1 s), and MLflow's
own server answering what its model page asks for (the registered model and its
versions) over the same registry.

Times each page and chart of `prodml ui` (served by uvicorn in this process, fetched over
HTTP, after one warm-up fetch) and `mlflow server`'s two calls behind its model page.
`model_page_vs_mlflow_ratio` is MLflow's time over prodml's for a model's page.

    python benchmarks/console.py [--project DIR] [--repeat 5]

DIR is a project `benchmarks/replay.py --project DIR` left (about 7 minutes to make);
without it, that replay is run first into a temporary folder. Needs the demo extra
(pip install -e '.[demo]').
"""

from __future__ import annotations

import argparse
import json
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from rich.console import Console
from rich.table import Table

from prodml.demo import flights
from prodml.demo.rollout import DEPLOYMENT
from prodml.serve.server import BackgroundServer
from prodml.ui import create_ui
from prodml.workspace import Workspace

HERE = Path(__file__).resolve().parent
MODEL = flights.MODEL_NAME
PAGES = {
    "models": "/models",
    "model": f"/models/{MODEL}",
    "card": f"/models/{MODEL}/1/card",
    "monitoring": f"/models/{MODEL}/monitoring",
    "training": f"/models/{MODEL}/training",
    "deployments": "/deployments",
    "deployment": f"/deployments/{DEPLOYMENT}",
    "audit": "/audit",
    "data": "/data",
}
CHARTS = {
    "performance chart": f"/models/{MODEL}/monitoring/performance.svg",
    "drift heat map": f"/models/{MODEL}/monitoring/drift.svg",
    "traffic chart": f"/deployments/{DEPLOYMENT}/traffic.svg",
    "checks chart": f"/deployments/{DEPLOYMENT}/checks.svg",
}
MLFLOW_MODEL_PAGE = (
    f"/ajax-api/2.0/mlflow/registered-models/get?name={MODEL}",
    f"/ajax-api/2.0/mlflow/model-versions/search?filter=name%3D%27{MODEL}%27",
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--project", type=Path, help="a project benchmarks/replay.py left")
    parser.add_argument("--repeat", type=int, default=5, help="timed fetches of each page")
    args = parser.parse_args()
    project = args.project or _replayed()
    with Workspace.open(project) as ws:
        history = {
            "audit_events": sum(1 for _ in ws.audit.events()),
            "findings": len(ws.metadata.list_findings(model_name=MODEL)),
            "decisions": len(ws.metadata.list_decisions(MODEL)),
            "versions": sum(v.name == MODEL for v in ws.registry.list_versions()),
        }
        # A request's page looks its id up in the whole log: the year's last request.
        last = ws.prediction_log(MODEL).read()["request_id"].iloc[-1]
        pages = {**PAGES, "request": f"/models/{MODEL}/requests?id={last}"}
        with BackgroundServer(create_ui(ws)) as server:
            ours = {name: _time(server.url, [path], args.repeat) for name, path in pages.items()}
            charts = {name: _time(server.url, [p], args.repeat) for name, p in CHARTS.items()}
        with _mlflow_server(ws.tracking_uri) as url:
            theirs = _time(url, list(MLFLOW_MODEL_PAGE), args.repeat)

    table = Table(title=f"The console over {project}", title_justify="left")
    for column in ("page", "median ms", "max ms"):
        table.add_column(column, justify="right" if column != "page" else "left")
    for name, (median, most) in {**ours, **charts}.items():
        table.add_row(name, f"{median:.0f}", f"{most:.0f}")
    table.add_row("MLflow server: its model page's two calls", *(f"{v:.0f}" for v in theirs))
    console = Console(width=120)
    console.print(", ".join(f"{k.replace('_', ' ')} {v:,}" for k, v in history.items()))
    console.print(table)
    slowest = max(most for _, most in ours.values())
    console.print(f"Slowest page: {slowest:.0f} ms (target: under 1,000 ms)")
    figures = {
        **history,
        **{f"{name}_page_ms": round(median, 1) for name, (median, _) in ours.items()},
        **{
            f"{name.replace(' ', '_')}_ms": round(median, 1) for name, (median, _) in charts.items()
        },
        "slowest_page_max_ms": round(slowest, 1),
        "mlflow_model_page_ms": round(theirs[0], 1),
        "model_page_vs_mlflow_ratio": round(theirs[0] / ours["model"][0], 2),
    }
    print(json.dumps(figures))


def _time(url: str, paths: list[str], repeat: int) -> tuple[float, float]:
    """The median and the slowest of `repeat` fetches of every one of `paths` in turn (ms),
    after one untimed fetch of each."""
    took = []
    with httpx.Client(base_url=url, timeout=60) as client:
        for attempt in range(repeat + 1):
            started = time.perf_counter()
            for path in paths:
                client.get(path).raise_for_status()
            if attempt:
                took.append((time.perf_counter() - started) * 1000)
    return statistics.median(took), max(took)


def _replayed() -> Path:
    project = Path(tempfile.mkdtemp(prefix="prodml-console-"))
    print(f"Replaying the year into {project} first (about 7 minutes)…", file=sys.stderr)
    subprocess.run(
        [sys.executable, str(HERE / "replay.py"), "--project", str(project)],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return project


class _mlflow_server:
    """`mlflow server` over `tracking_uri` on a free port, until the block ends."""

    def __init__(self, tracking_uri: str) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.command = [
            sys.executable, "-m", "mlflow", "server", "--backend-store-uri", tracking_uri,
            "--host", "127.0.0.1", "--port", str(self.port), "--workers", "1",
        ]  # fmt: skip

    def __enter__(self) -> str:
        self.process = subprocess.Popen(
            self.command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        url = f"http://127.0.0.1:{self.port}"
        for _ in range(120):
            try:
                httpx.get(f"{url}/health", timeout=1).raise_for_status()
                return url
            except httpx.HTTPError:
                time.sleep(0.5)
        self.process.kill()
        raise RuntimeError(f"mlflow server did not answer on {url} within 60 s")

    def __exit__(self, *_: object) -> None:
        self.process.terminate()
        self.process.wait(30)


if __name__ == "__main__":
    main()
