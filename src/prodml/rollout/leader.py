"""The rollout analysis with no one to run it: every server following a deployment (and
`prodml deploy watch`) asks, each `rollouts.interval_seconds`, for the deployment's
analysis lease in the metadata store, and the one holding it judges the rollout as
`prodml deploy tick` does. A canary advances, promotes or rolls back while only servers
run, once per interval however many replicas there are; when the holder dies its lease
expires after `LEASE_INTERVALS` intervals and another replica takes over.
"""

from __future__ import annotations

import contextlib
import logging
import threading

from prodml.errors import ProdmlError, StateError
from prodml.rollout.analysis import HOLD, IDLE, Analysis, Decision
from prodml.store import MetadataStore, this_process

logger = logging.getLogger(__name__)

LEASE_INTERVALS = 3  # a holder missing this many renewals in a row is presumed dead


def lease_name(deployment: str) -> str:
    return f"rollout-analysis:{deployment}"


class Leader:
    """Judges deployment `deployment` with `analysis` every `interval` seconds while this
    process holds its lease in `metadata`."""

    def __init__(
        self,
        analysis: Analysis,
        metadata: MetadataStore,
        deployment: str,
        interval: float,
        holder: str | None = None,
    ) -> None:
        self.analysis, self.metadata = analysis, metadata
        self.deployment, self.interval = deployment, interval
        self.holder = holder or this_process()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def step(self) -> Decision | None:
        """Judge the rollout once if this process holds (or can take) the lease; None
        while another process holds it. Store errors reach the caller: nothing is decided
        blind."""
        lease = lease_name(self.deployment)
        if not self.metadata.hold_lease(lease, self.holder, LEASE_INTERVALS * self.interval):
            return None
        try:
            return self.analysis.tick(self.deployment, by=self.holder)
        except StateError as exc:  # a person's command landed meanwhile: judge it next time
            return Decision(self.deployment, HOLD, f"not decided: {exc.message}")

    def start(self) -> Leader:
        """Step every interval in a background thread, until `stop`."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="prodml-leader", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop stepping and give the lease up, so another replica takes over at once."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None
        with contextlib.suppress(ProdmlError):  # unreachable: the lease expires by itself
            self.metadata.release_lease(lease_name(self.deployment), self.holder)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                decision = self.step()
            except ProdmlError as exc:
                logger.warning("Not judging rollout %s: %s", self.deployment, exc.message)
                continue
            except Exception:  # a bug in one pass must not stop the next ones
                logger.exception("Judging rollout %s failed", self.deployment)
                continue
            if decision is not None and decision.action not in (HOLD, IDLE):
                name, action, reason = self.deployment, decision.action, decision.reason
                logger.warning("Rollout %s: %s (%s)", name, action, reason)
