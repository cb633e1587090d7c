"""Driving a server under load, for the serving benchmarks: start one on core 0, wait for
its first answer, and measure it with wrk (closed loop) or `_openloop.py` (open loop)
from core 1."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
from _peer import HERE

SERVER_CORE, LOAD_CORE = "0", "1"


@contextlib.contextmanager
def serving(name: str, server: dict, work: Path) -> Iterator[tuple[int, Path, object]]:
    """`server` started on core 0 and answering: its port, a wrk script posting its body
    (with `server["headers"]`, if any, on every request), and its first answer."""
    port = free_port()
    body_file = work / f"{name}.json"
    body_file.write_text(json.dumps(server["body"]))
    lua = work / f"{name}.lua"
    script = (
        'wrk.method = "POST"\n'
        f'wrk.body = io.open("{body_file}"):read("*a")\n'
        'wrk.headers["Content-Type"] = "application/json"\n'
    )
    headers = server.get("headers", {})
    for header, value in headers.items():
        script += f"wrk.headers[{json.dumps(header)}] = {json.dumps(value)}\n"
    if "random_key" in server:  # each request names a customer drawn at random
        before, after = body_file.read_text().split(server["random_key"])
        script += (
            f"local before, after = [[{before}]], [[{after}]]\n"
            "request = function()\n"
            '  local key = string.format("c%05d", math.random(0, 9999))\n'
            "  return wrk.format(nil, nil, nil, before .. key .. after)\n"
            "end\n"
        )
    lua.write_text(script)
    command = [
        "taskset",
        "-c",
        SERVER_CORE,
        *(a.replace("{port}", str(port)) for a in server["command"]),
    ]
    log = (work / f"{name}.log").open("w")
    process = subprocess.Popen(
        command,
        cwd=HERE,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        # The tools' own bin folder first: `mlflow models serve` runs `uvicorn` from PATH.
        env={
            **os.environ,
            "PATH": f"{Path(command[3]).parent}{os.pathsep}{os.environ['PATH']}",
            **server.get("env", {}),
        },
    )
    url = f"http://127.0.0.1:{port}{server['path']}"
    try:
        log_file = work / f"{name}.log"
        yield port, lua, wait_ready(url, server["body"], process, log_file, headers)
    finally:
        stop(process)
        log.close()


def stop(process: subprocess.Popen) -> None:
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=20)
    except ProcessLookupError:  # it had exited already
        pass
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)


def wait_ready(
    url: str,
    body: dict,
    process: subprocess.Popen,
    log: Path,
    headers: dict[str, str] | None = None,
) -> object:
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the server exited:\n{log.read_text()[-3000:]}")
        try:
            response = httpx.post(url, json=body, headers=headers, timeout=5)
            if response.status_code == 200:
                return response.json()
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise SystemExit(f"no answer from {url} in 180 s:\n{log.read_text()[-3000:]}")


def wrk(lua: Path, port: int, path: str, *, connections: int, seconds: float) -> dict:
    result = subprocess.run(
        [
            "taskset",
            "-c",
            LOAD_CORE,
            "wrk",
            "-t1",
            f"-c{connections}",
            f"-d{seconds:.0f}s",
            "--latency",
            "-s",
            str(lua),
            f"http://127.0.0.1:{port}{path}",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    text = result.stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    errors = int(non2xx.group(1)) if non2xx else 0
    return {
        "rps": rps,
        "p50_ms": _ms(re.search(r"\s50%\s+([\d.]+\w+)", text).group(1)),
        "p99_ms": _ms(re.search(r"\s99%\s+([\d.]+\w+)", text).group(1)),
        "errors": errors,
    }


def _ms(value: str) -> float:
    number, unit = re.match(r"([\d.]+)(\w+)", value).groups()
    return float(number) * {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 6e4}[unit]


def openloop(port: int, path: str, body_file: Path, rate: float, seconds: float) -> dict:
    result = subprocess.run(
        [
            "taskset",
            "-c",
            LOAD_CORE,
            sys.executable,
            str(HERE / "_openloop.py"),
            str(port),
            path,
            str(body_file),
            f"{rate:.1f}",
            str(seconds),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
