"""What each worker of `prodml serve --workers N` counted, shared through files so that
any worker's /metrics answers for the whole server: a scrape lands on one worker, which
adds the other workers' latest counts to its own live ones.

Each worker writes its counts (`ServingMetrics.snapshot()`) to `<folder>/<worker>.json`
every `interval` seconds, replacing the file atomically; a scrape therefore sees the
others' counts at most that old. A worker's file stays after it exits, so totals never
fall when uvicorn replaces a worker; the server empties the folder when it starts.
prometheus_client's multiprocess mode does the same with memory-mapped files, but only
for its own metric classes, whose per-increment lock `ServingMetrics` avoids.
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

if TYPE_CHECKING:
    from prodml.serve.metrics import ServingMetrics

logger = logging.getLogger(__name__)
SUFFIX = ".json"


class MetricsShare:
    """Worker `name`'s side of the counts shared under `folder`."""

    def __init__(self, folder: Path, name: str, interval: float = 1.0) -> None:
        self.folder = folder
        self.name = name
        self.interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def attach(self, metrics: ServingMetrics) -> None:
        """Publish `metrics` every `interval` seconds from now on, and have its scrapes
        include the other workers' counts."""
        self.folder.mkdir(parents=True, exist_ok=True)
        metrics.peers = self.peers
        self._thread = threading.Thread(
            target=self._publish, args=(metrics,), name="metrics-share", daemon=True
        )
        self._thread.start()

    def peers(self) -> list[dict[str, Any]]:
        """The other workers' latest counts (a file being replaced is read whole or not
        at all; one that cannot be parsed is skipped with a warning)."""
        found = []
        for path in sorted(self.folder.glob(f"*{SUFFIX}")):
            if path.stem == self.name:
                continue
            try:
                found.append(orjson.loads(path.read_bytes()))
            except FileNotFoundError:
                continue
            except orjson.JSONDecodeError as exc:
                logger.warning("metrics of worker %s unreadable (%s): left out", path.stem, exc)
        return found

    def stop(self) -> None:
        """Stop publishing, after writing the last counts."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _publish(self, metrics: ServingMetrics) -> None:
        target = self.folder / f"{self.name}{SUFFIX}"
        draft = target.with_suffix(".partial")
        stopping = False
        while not stopping:
            stopping = self._stop.wait(self.interval)
            try:
                draft.write_bytes(orjson.dumps(metrics.snapshot()))
                os.replace(draft, target)
            except OSError as exc:  # a full disk must not stop the server answering
                logger.warning("could not share this worker's metrics: %s", exc)
