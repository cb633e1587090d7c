"""A real `prodml serve` process on a free port, for tests that talk to it over HTTP."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx


@dataclass(frozen=True)
class Served:
    url: str
    process: subprocess.Popen[bytes]


@contextmanager
def prodml_process(
    project: Path, *args: str, output: Path, env: dict[str, str] | None = None
) -> Iterator[Served]:
    """`prodml serve ARGS -C project` until the block ends (unless killed sooner); yields
    its URL and process once /readyz answers (its output goes to `output`, shown if it
    dies first). `env` is added to the server's environment."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    command = [sys.executable, "-m", "prodml", "serve", *args, "--port", str(port)]
    with output.open("w") as out:
        server = subprocess.Popen(
            [*command, "-C", str(project)],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env={**os.environ, **(env or {})},
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert server.poll() is None, output.read_text()
            assert time.monotonic() < deadline, "the server did not start in 120 s"
            time.sleep(0.5)
        yield Served(url, server)
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=60)


@contextmanager
def prodml_server(
    project: Path, *args: str, output: Path, env: dict[str, str] | None = None
) -> Iterator[str]:
    """`prodml_process`, yielding only the server's base URL."""
    with prodml_process(project, *args, output=output, env=env) as served:
        yield served.url
