"""A deployment's live figures, read from its servers' own /metrics: requests per second,
the share that failed or fell back, and the p99 latency, between two looks of the
console (the first look gives the totals since each server started).

Each look keeps one sample per server; the figures compare the newest with the oldest
sample of the last `window` seconds, so a page reloaded every few seconds shows the last
minute, like a dashboard's panel.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import httpx
from prometheus_client.parser import text_string_to_metric_families

from prodml.serve.metrics import LATENCY_BUCKETS
from prodml.serve.presence import announced

if TYPE_CHECKING:
    from prodml.workspace import Workspace

TIMEOUT_SECONDS = 0.3  # a page waits this long at most for a server that does not answer


@dataclass(frozen=True)
class Sample:
    """Counters of one model on one server at one time (cumulative since it started)."""

    at: float
    requests: int
    failed: int
    fallbacks: int
    latency: tuple[tuple[float, int], ...]  # (upper bound in seconds, cumulative count)


@dataclass(frozen=True)
class Live:
    """What one server says now: over `seconds` (None: since it started), requests per
    second, the share failed (non-200) or answered by the stable arm for a candidate, and
    the p99 latency's bucket bound; `problem` when it could not be read."""

    url: str
    seconds: float | None = None
    requests: int = 0
    rate: float | None = None
    failed_share: float = 0.0
    fallback_share: float = 0.0
    p99_ms: float | None = None
    problem: str = ""

    @property
    def latency(self) -> str:
        """The p99 as a person reads it: within a bucket's bound, or past the last one."""
        if self.p99_ms is None:
            return "—"
        if self.p99_ms == float("inf"):
            return f"over {LATENCY_BUCKETS[-1]:g} s"
        return f"≤ {self.p99_ms:g} ms"


def servers(ws: Workspace, deployment: str) -> list[str]:
    """The servers of `deployment` to read: those listed under ui.servers, and those
    that announce themselves (serve/presence.py)."""
    listed = [url.rstrip("/") for url in ws.settings.ui.servers]
    return list(dict.fromkeys([*listed, *announced(ws.metadata, deployment)]))


class LiveMetrics:
    """Reads servers' /metrics for a model and deployment, keeping recent samples."""

    def __init__(self, *, window: float = 60.0, now: Callable[[], float] = time.monotonic) -> None:
        self.window, self._now = window, now
        self._samples: dict[tuple[str, str], deque[Sample]] = {}

    def look(self, model: str, deployment: str, urls: list[str]) -> list[Live]:
        return [self._look(url, model, deployment) for url in urls]

    def _look(self, url: str, model: str, deployment: str) -> Live:
        try:
            text = httpx.get(f"{url.rstrip('/')}/metrics", timeout=TIMEOUT_SECONDS).text
        except httpx.HTTPError as exc:
            return Live(url, problem=f"no answer ({type(exc).__name__})")
        newest = _sample(text, model, deployment, self._now())
        kept = self._samples.setdefault((url, model), deque())
        while kept and (kept[0].at < newest.at - self.window or kept[0].requests > newest.requests):
            kept.popleft()  # too old, or from before the server restarted
        oldest = kept[0] if kept else None
        kept.append(newest)
        return _between(url, oldest, newest)


def _sample(text: str, model: str, deployment: str, at: float) -> Sample:
    requests = failed = fallbacks = 0
    buckets: dict[float, int] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.labels.get("model", model) != model:
                continue
            if s.name == "prodml_requests_total":
                requests += int(s.value)
                failed += int(s.value) if s.labels.get("status") != "200" else 0
            elif s.name == "prodml_fallbacks_total" and s.labels.get("deployment") == deployment:
                fallbacks += int(s.value)
            elif s.name == "prodml_request_latency_seconds_bucket":
                bound = float(s.labels["le"])
                buckets[bound] = buckets.get(bound, 0) + int(s.value)  # summed over versions
    return Sample(at, requests, failed, fallbacks, tuple(sorted(buckets.items())))


def _between(url: str, oldest: Sample | None, newest: Sample) -> Live:
    base = oldest or Sample(newest.at, 0, 0, 0, tuple((b, 0) for b, _ in newest.latency))
    requests = newest.requests - base.requests
    seconds = newest.at - oldest.at if oldest else None
    before = dict(base.latency)
    counts = [(bound, count - before.get(bound, 0)) for bound, count in newest.latency]
    p99 = None
    if counts and counts[-1][1] > 0:
        p99 = next(b for b, c in counts if c >= 0.99 * counts[-1][1]) * 1000
    return Live(
        url,
        seconds=seconds,
        requests=requests,
        rate=requests / seconds if seconds else None,
        failed_share=(newest.failed - base.failed) / requests if requests else 0.0,
        fallback_share=(newest.fallbacks - base.fallbacks) / requests if requests else 0.0,
        p99_ms=p99,
    )
