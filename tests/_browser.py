"""Debian's Chromium, headless: a screenshot of a local page, or a browser to drive."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from matplotlib.image import imread

from prodml.ui.screenshots import CHROMIUM_FLAGS
from tests.conftest import require_program

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page


def screenshot(page: Path, folder: Path, *, width: int = 1200, height: int = 3000) -> np.ndarray:
    """The rendered page as an RGB array (rows, columns, 3) of floats in [0, 1]."""
    binary = require_program("chromium", "chromium-browser", package="chromium")
    target = folder / "screenshot.png"
    subprocess.run(
        [
            binary,
            *CHROMIUM_FLAGS,
            f"--user-data-dir={folder / 'chromium-profile'}",
            f"--window-size={width},{height}",
            f"--screenshot={target}",
            page.resolve().as_uri(),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    return imread(target)[..., :3]


def pixels_of(image: np.ndarray, color: str, tolerance: float = 0.06) -> int:
    """How many pixels are within `tolerance` of `color` ("#rrggbb") in every channel."""
    rgb = np.array([int(color[i : i + 2], 16) / 255 for i in (1, 3, 5)])
    return int(np.all(np.abs(image - rgb) <= tolerance, axis=-1).sum())


@contextmanager
def browser() -> Iterator[Browser]:
    """Debian's Chromium driven by Playwright (its own browsers are never downloaded)."""
    from playwright.sync_api import sync_playwright

    binary = require_program("chromium", "chromium-browser", package="chromium")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=binary, args=list(CHROMIUM_FLAGS[1:]))
        try:
            yield launched
        finally:
            launched.close()


def console_errors(page: Page) -> list[str]:
    """A list that fills with the page's console errors and uncaught exceptions."""
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    return errors
