"""A real Prometheus (Debian's package) on loopback, scraping one target every second."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

from tests.conftest import require_program


@contextlib.contextmanager
def prometheus_scraping(target: str, folder: Path) -> Iterator[str]:
    """Prometheus scraping `target` (host:port, path /metrics); yields its base URL."""
    binary = require_program("prometheus", package="prometheus")
    config = folder / "prometheus.yml"
    config.write_text(
        "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
        "scrape_configs:\n"
        f"  - {{job_name: prodml, static_configs: [{{targets: ['{target}']}}]}}\n"
    )
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    log = (folder / "prometheus.log").open("w")
    process = subprocess.Popen(
        [
            binary,
            f"--config.file={config}",
            f"--storage.tsdb.path={folder / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{url}/-/ready", timeout=2).status_code == 200:
                    break
            assert process.poll() is None, (folder / "prometheus.log").read_text()
            assert time.monotonic() < deadline, "Prometheus was not ready in 60 s"
            time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


def query_until(url: str, promql: str, timeout: float = 30.0) -> list[dict]:
    """The instant-query result of `promql`, waiting for the first scrape to land."""
    deadline = time.monotonic() + timeout
    while True:
        body = httpx.get(f"{url}/api/v1/query", params={"query": promql}, timeout=5).json()
        assert body["status"] == "success", body
        if body["data"]["result"] or time.monotonic() > deadline:
            return body["data"]["result"]
        time.sleep(0.5)
