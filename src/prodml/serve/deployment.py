"""The version a server answers with, and hot swap when the alias it follows moves.

A background thread asks the registry which version the alias names. When it changes, the
new version is loaded beside the old one, checked with a smoke prediction, and swapped in
by one assignment: a request reads `current` once, so it finishes on the version it
started on, and no request waits or is dropped. A version that fails to load or to score
stays out, and is not retried until the alias moves again.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from prodml.serve.predictor import Predictor

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SwapEvent:
    at: datetime
    from_version: str
    to_version: str
    ok: bool
    reason: str = ""


class Deployment:
    """Answers with `current`; `follow()` keeps it on the version that `resolve()` names.

    `resolve` returns the version the followed alias points at; `load` turns a version
    into a ready `Predictor` (downloaded, verified, enriched like the first one).
    """

    def __init__(
        self,
        predictor: Predictor,
        *,
        resolve: Callable[[], str] | None = None,
        load: Callable[[str], Predictor] | None = None,
        poll_seconds: float = 10.0,
    ) -> None:
        if (resolve is None) != (load is None):
            raise ValueError("resolve and load come together: both, or neither (no hot swap).")
        self.current = predictor
        self.history: list[SwapEvent] = []
        self.on_swap: list[Callable[[SwapEvent], None]] = []  # told of every attempt
        self._resolve = resolve
        self._load = load
        self._poll = poll_seconds
        self._refused: set[str] = set()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._checking = threading.Lock()

    @property
    def follows(self) -> bool:
        return self._resolve is not None

    def check(self) -> SwapEvent | None:
        """Look once: swap if the alias moved to a version not yet tried. Returns what
        happened, or None if there was nothing to do."""
        if self._resolve is None or self._load is None:
            return None
        with self._checking:  # one swap at a time, whichever thread asks
            wanted = self._resolve()
            old = self.current.info.version
            if wanted == old or wanted in self._refused:
                return None
            try:
                fresh = self._load(wanted)
                fresh.smoke()
            except Exception as exc:  # any failure keeps the old version serving
                self._refused.add(wanted)
                event = SwapEvent(_now(), old, wanted, ok=False, reason=f"{exc}")
                logger.error("Not swapping to version %s: %s", wanted, exc)
            else:
                self.current = fresh  # one assignment: atomic for every reader
                self._refused.discard(wanted)
                event = SwapEvent(_now(), old, wanted, ok=True)
                logger.warning("Now serving version %s (was %s).", wanted, old)
            self.history.append(event)
            for listener in self.on_swap:
                listener(event)
            return event

    def follow(self) -> Deployment:
        """Start checking every `poll_seconds` in a background thread."""
        if self.follows and self._thread is None:
            self._thread = threading.Thread(target=self._run, name="prodml-follow", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None

    def _run(self) -> None:
        while not self._stop.wait(self._poll):
            try:
                self.check()
            except Exception:  # the registry may be briefly unreachable; try again later
                logger.exception("Could not ask the registry which version to serve")


def _now() -> datetime:
    return datetime.now(UTC)
