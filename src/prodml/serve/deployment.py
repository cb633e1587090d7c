"""What a server answers with, and how it follows changes without dropping a request.

A server follows an alias (`prodml serve NAME@ALIAS`: a policy of one arm, the version the
alias names) or a deployment (`prodml serve --deployment NAME`: the policy the metadata
store holds, the same for every replica). A background thread asks every `poll_seconds`.
When the policy changed, each version it names that is not loaded yet is loaded beside
the old ones and checked with a smoke prediction, and the new `Routing` is swapped in by
one assignment: a request reads `routing` once, so it finishes on the versions it started
on, and no request waits or is dropped.

If the primary arm's version fails to load or to score, the change stays out (the old
routing keeps serving) and is not tried again until the policy changes again. If another
arm's version fails, the change goes in without it, and that arm's callers are answered
by the primary (fallbacks, counted against it). If the store cannot be reached, the
server keeps the last policy it knew.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from prodml.errors import ServingError
from prodml.serve.policy import Policy
from prodml.serve.predictor import Predictor
from prodml.serve.routing import Routing

logger = logging.getLogger(__name__)
# How long a swap waits for a new version's trees to compile (tens of seconds for hundreds
# of trees) before routing to it on LightGBM's own path.
WARM_SECONDS = 120.0


@dataclass(frozen=True)
class SwapEvent:
    at: datetime
    from_version: str  # the primary arm's version before and after
    to_version: str
    ok: bool
    reason: str = ""
    arms: dict[str, str] = field(default_factory=dict)  # arm -> version, when it went in


class Deployment:
    """Answers with `routing`; `follow()` keeps it on the policy `resolve()` returns.

    `resolve` returns the policy to serve; `load` turns a version into a ready `Predictor`
    (downloaded, verified, enriched like the first one); `name` is the deployment served
    (None when following an alias).
    """

    def __init__(
        self,
        served: Predictor | Routing,
        *,
        resolve: Callable[[], Policy] | None = None,
        load: Callable[[str], Predictor] | None = None,
        poll_seconds: float = 10.0,
    ) -> None:
        if (resolve is None) != (load is None):
            raise ValueError("resolve and load come together: both, or neither (no hot swap).")
        self.routing = served if isinstance(served, Routing) else Routing.alone(served)
        self.history: list[SwapEvent] = []
        self.on_swap: list[Callable[[SwapEvent], None]] = []  # told of every attempt
        self._resolve = resolve
        self._load = load
        self._poll = poll_seconds
        self._refused: Policy | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._checking = threading.Lock()

    @classmethod
    def of_policy(
        cls,
        name: str,
        resolve: Callable[[], Policy],
        load: Callable[[str], Predictor],
        *,
        poll_seconds: float = 10.0,
    ) -> Deployment:
        """Deployment `name` as its policy stands now, following its changes."""
        policy = resolve()
        routing, failures = _loaded(policy, {}, load, name)
        if routing is None:
            raise ServingError(f"Deployment {name!r} cannot be served: {'; '.join(failures)}")
        for failure in failures:
            logger.error("Deployment %s: %s", name, failure)
        return cls(routing, resolve=resolve, load=load, poll_seconds=poll_seconds)

    @property
    def current(self) -> Predictor:
        """The primary arm's predictor: its schema is the API's, and it answers whenever
        another arm cannot."""
        return self.routing.primary

    @property
    def follows(self) -> bool:
        return self._resolve is not None

    def check(self) -> SwapEvent | None:
        """Look once: swap if the policy changed to one not yet tried. Returns what
        happened, or None if there was nothing to do."""
        if self._resolve is None or self._load is None:
            return None
        with self._checking:  # one swap at a time, whichever thread asks
            wanted = self._resolve()
            old = self.routing
            if wanted == old.policy or wanted == self._refused:
                return None
            loaded = {p.info.version: p for p in old.predictors.values()}
            routing, failures = _loaded(wanted, loaded, self._load, old.deployment, warm=True)
            before = old.primary.info.version
            after = wanted.primary.version
            reason = "; ".join(failures)
            if routing is None:  # the old routing keeps serving
                self._refused = wanted
                event = SwapEvent(_now(), before, after, ok=False, reason=reason)
                logger.error("Not serving %s: %s", wanted.describe(), reason)
            else:
                self.routing = routing  # one assignment: atomic for every reader
                self._refused = None
                event = SwapEvent(_now(), before, after, True, reason, routing.versions())
                logger.warning("Now serving %s.%s", wanted.describe(), f" {reason}" * bool(reason))
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
            except Exception:  # the store may be briefly unreachable; keep the last policy
                logger.exception("Could not read the policy to serve; keeping the last one")


def _loaded(
    policy: Policy,
    loaded: dict[str, Predictor],
    load: Callable[[str], Predictor],
    deployment: str | None,
    *,
    warm: bool = False,
) -> tuple[Routing | None, list[str]]:
    """`policy` with a predictor per arm, reusing `loaded` ones (by version), and what
    failed; no routing when the primary arm's version failed. `warm`: a newly loaded
    version finishes compiling first (the old routing serves meanwhile)."""
    predictors: dict[str, Predictor] = {}
    failures: list[str] = []
    for arm in policy.arms:
        found = loaded.get(arm.version)
        if found is None:
            try:
                found = load(arm.version)
                found.smoke()
                if warm:
                    found.ready(timeout=WARM_SECONDS)
            except Exception as exc:  # any failure keeps this version out
                failures.append(f"version {arm.version} ({arm.name}) failed to load: {exc}")
                continue
            loaded[arm.version] = found
        predictors[arm.name] = found
    if policy.primary.name not in predictors:
        return None, failures
    return Routing(policy, predictors, deployment), failures


def _now() -> datetime:
    return datetime.now(UTC)
