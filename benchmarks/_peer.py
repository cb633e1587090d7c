"""Shared by the benchmarks: the peer tool's own virtual environment, and child runs.

Each side runs in a fresh process that prints its figures as one JSON line, last.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import venv
from pathlib import Path

HERE = Path(__file__).resolve().parent
FEAST_ENV = HERE / ".venvs" / "feast"


def peer_python(env: Path = FEAST_ENV, packages: tuple[str, ...] = ()) -> str:
    """The peer environment's python, created (with Feast by default) on first use."""
    python = env / "bin" / "python"
    if not python.exists():
        print(f"Creating {env} (first run only)…", file=sys.stderr)
        venv.create(env, with_pip=True)
        wanted = packages or ("feast[redis]", "pyarrow", "pandas")
        subprocess.run([str(python), "-m", "pip", "install", "-q", *wanted], check=True)
    return str(python)


def child(
    python: str,
    script: str,
    *args: str,
    timeout: float | None = None,
    memory_mb: float | None = None,
) -> dict:
    """Run `script` (beside this file) with `python`; its last stdout line, as JSON.

    With `timeout` or `memory_mb`, the runner (and anything it started) is stopped once it
    passes either; Unfinished then says which, how long its timed part had run (from its
    first stdout line) and the largest resident memory seen.
    """
    command = [python, str(HERE / script), *args]
    with tempfile.TemporaryFile("w+") as stdout, tempfile.TemporaryFile("w+") as stderr:
        child = subprocess.Popen(
            command, stdout=stdout, stderr=stderr, text=True, cwd=HERE, start_new_session=True
        )
        started, timing_from, peak, reason = time.monotonic(), None, 0.0, None
        while child.poll() is None:
            rss = _resident_mb(child.pid)
            peak = max(peak, rss)
            if timing_from is None and os.fstat(stdout.fileno()).st_size:
                timing_from = time.monotonic()
            if timeout and time.monotonic() - started > timeout:
                reason = f"stopped at the {timeout:.0f} s time limit"
            elif memory_mb and rss > memory_mb:
                reason = f"stopped at the {memory_mb:,.0f} MB memory limit"
            if reason:
                os.killpg(child.pid, signal.SIGKILL)  # its own session: only what it started
                child.wait()
                timed = None if timing_from is None else time.monotonic() - timing_from
                raise Unfinished(f"{script} {reason}", timed, peak)
            time.sleep(0.2)
        stdout.seek(0)
        stderr.seek(0)
        output, errors = stdout.read(), stderr.read()
    if child.returncode != 0:
        killed = " (killed: out of memory?)" if child.returncode in (-9, 137) else ""
        message = f"{script} exited {child.returncode}{killed}:\n{errors[-2000:]}"
        if timeout or memory_mb:
            raise Unfinished(message, None, peak)
        raise SystemExit(message)
    return json.loads(output.strip().splitlines()[-1])


def _resident_mb(pid: int) -> float:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0.0
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


class Unfinished(Exception):
    """A runner that was stopped or failed: why, and what it had used by then."""

    def __init__(self, reason: str, timed_seconds: float | None, peak_mb: float) -> None:
        super().__init__(reason)
        self.timed_seconds, self.peak_mb = timed_seconds, peak_mb
