"""Pictures of the console's main pages, taken by a headless Chromium when one is
installed, so a person can look at what a run left without starting anything."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from prodml.serve.server import BackgroundServer
from prodml.ui.app import create_ui
from prodml.workspace import Workspace

# Without these, Chromium keeps reaching for Google's hosts, which a closed network refuses.
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
)


def chromium() -> str | None:
    """Chromium's path, when it is installed (Debian's package `chromium`)."""
    return shutil.which("chromium") or shutil.which("chromium-browser")


def take(binary: str, url: str, target: Path, *, width: int = 1280, height: int = 1100) -> Path:
    """A PNG of the page at `url`, `width` x `height` pixels, written to `target`."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="prodml-chromium-") as profile:
        subprocess.run(  # noqa: S603 (Chromium found on PATH, with arguments of ours)
            [
                binary,
                *CHROMIUM_FLAGS,
                f"--user-data-dir={profile}",
                f"--window-size={width},{height}",
                f"--screenshot={target}",
                url,
            ],
            check=True,
            capture_output=True,
            timeout=120,
        )
    return target


def console_screenshots(ws: Workspace, model: str, deployment: str, folder: Path) -> list[Path]:
    """A picture of each main page of the console over `ws` (local mode: no sign-in), about
    `model` and `deployment`, in `folder`; none when Chromium is not installed."""
    binary = chromium()
    if binary is None or ws.settings.governance.auth:
        return []
    pages = {
        "models": f"/models/{model}",
        "deployment": f"/deployments/{deployment}",
        "monitoring": f"/models/{model}/monitoring",
        "training": f"/models/{model}/training",
        "audit": "/audit",
        "data": "/data",
    }
    with BackgroundServer(create_ui(ws)) as server:
        return [
            take(binary, server.url + path, folder / f"console-{name}.png")
            for name, path in pages.items()
        ]
