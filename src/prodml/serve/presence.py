"""A deployment's servers, found without a list: while it runs, each server holds a lease
named for its deployment and URL, renewed every `EVERY_SECONDS`, and the console reads
the leases not yet expired (a Kubernetes node's heartbeat is a lease in the same way).
A server that dies is gone from the list `LEASE_RENEWALS` renewals later."""

from __future__ import annotations

import logging
import socket
import threading

from prodml.errors import ProdmlError
from prodml.store import MetadataStore, this_process

logger = logging.getLogger(__name__)

EVERY_SECONDS = 10.0
LEASE_RENEWALS = 3  # a server missing this many renewals in a row is presumed gone
_WILDCARDS = ("", "0.0.0.0", "::")  # noqa: S104 (names them, binds nothing)


def advertised_url(host: str, port: int, advertise: str | None = None) -> str:
    """The URL others reach a server at: `advertise` (serving.advertise) when set, else
    its host and port, a wildcard host named by this machine's host name."""
    if advertise:
        return advertise.rstrip("/")
    host = socket.gethostname() if host in _WILDCARDS else host
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def _lease(deployment: str, url: str = "") -> str:
    return f"server {deployment} {url}"  # no URL or name holds a space


def announced(metadata: MetadataStore, deployment: str) -> list[str]:
    """The URLs of `deployment`'s servers whose lease has not expired."""
    prefix = _lease(deployment)
    return sorted(name.removeprefix(prefix) for name in metadata.live_leases(prefix))


class Presence:
    """Announces the server at `url` as one of `deployment`'s while it runs."""

    def __init__(
        self, metadata: MetadataStore, deployment: str, url: str, every: float = EVERY_SECONDS
    ) -> None:
        self.metadata, self.every = metadata, every
        self.lease = _lease(deployment, url)
        # Worker processes sharing one port share its URL: whichever holds the lease
        # announces it, and another takes it over if that one dies.
        self.holder = this_process()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> Presence:
        self._renew()
        self._thread = threading.Thread(target=self._run, name="prodml-presence", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop announcing, and leave the list at once."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        try:
            self.metadata.release_lease(self.lease, self.holder)
        except ProdmlError as exc:  # the lease expires by itself
            logger.warning("could not withdraw %s: %s", self.lease, exc.message)

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            self._renew()

    def _renew(self) -> None:
        try:
            self.metadata.hold_lease(self.lease, self.holder, LEASE_RENEWALS * self.every)
        except ProdmlError as exc:  # a store down for a while: the console misses it
            logger.warning("could not announce %s: %s", self.lease, exc.message)
