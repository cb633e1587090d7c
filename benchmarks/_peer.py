"""Shared by the benchmarks: the peer tool's own virtual environment, and child runs.

Each side runs in a fresh process that prints its figures as one JSON line, last.
"""

from __future__ import annotations

import json
import subprocess
import sys
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


def child(python: str, script: str, *args: str) -> dict:
    """Run `script` (beside this file) with `python`; its last stdout line, as JSON."""
    command = [python, str(HERE / script), *args]
    done = subprocess.run(command, capture_output=True, text=True, check=False, cwd=HERE)
    if done.returncode != 0:
        killed = " (killed: out of memory?)" if done.returncode in (-9, 137) else ""
        raise SystemExit(f"{script} exited {done.returncode}{killed}:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])
