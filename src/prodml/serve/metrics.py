"""The API's Prometheus metrics: requests, errors by kind, latency and prediction scores,
labelled by model and version (a bounded set: one process only serves the versions its
alias moved through), and hot swaps by outcome.

Counted in plain integers on the event loop's thread and turned into metric families
only when Prometheus scrapes. prometheus_client's own Counter and Histogram take a lock
per increment: about a tenth of a one-row prediction's time in the server, for numbers
read every few seconds at most.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

from prodml.registry import ModelVersionInfo
from prodml.serve.routing import Routing

SCORE_BUCKETS = tuple(i / 10 for i in range(1, 11))
VALUE_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0)
LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


@dataclass(slots=True)
class _Histogram:
    """Per-bucket (not cumulative) counts, the last one past every bound, and the sum."""

    bounds: tuple[float, ...]
    counts: list[int] = field(init=False)
    total: float = 0.0

    def __post_init__(self) -> None:
        self.counts = [0] * (len(self.bounds) + 1)

    def observe(self, value: float) -> None:
        if value != value:  # NaN: in no bucket, as prometheus_client does, nor in the sum
            return
        # bisect_left: a value equal to a bound falls in that bound's bucket (le="bound").
        self.counts[bisect.bisect_left(self.bounds, value)] += 1
        self.total += value

    def buckets(self) -> list[tuple[str, int]]:
        cumulative, out = 0, []
        labels = (*map(floatToGoString, self.bounds), "+Inf")
        for bound, count in zip(labels, self.counts, strict=True):
            cumulative += count
            out.append((bound, cumulative))
        return out


@dataclass(slots=True)
class _Version:
    """What one model version answered."""

    latency: _Histogram
    scores: _Histogram
    statuses: dict[str, int] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)


class RoutingCollector(Collector):
    """Each arm's configured share of a deployment's traffic, as the server routes it now
    (`prodml_deployment_weight`; a shadow arm is 0). With `prodml_requests_total` by
    version, the share each version actually answered."""

    def __init__(self, routing: Callable[[], Routing]) -> None:
        self.routing = routing

    def collect(self) -> Iterator[Metric]:
        routing = self.routing()
        if routing.deployment is None:
            return
        weights = GaugeMetricFamily(
            "prodml_deployment_weight",
            "Share of a deployment's callers each arm answers (0: a shadow)",
            labels=["deployment", "arm", "version"],
        )
        for arm in routing.policy.arms:
            weights.add_metric([routing.deployment, arm.name, arm.version], arm.weight)
        yield weights


class ServingMetrics(Collector):
    """Register with a `CollectorRegistry`. Increments take no lock, so each count needs
    one writing thread: `succeeded` and `failed` are called from the event loop's,
    `swapped` from the deployment's follower. A scrape adds what `peers()` gives: the
    counts of a server's other worker processes (see `metrics_share.py`)."""

    def __init__(self, classifier: bool) -> None:
        self._score_bounds = SCORE_BUCKETS if classifier else VALUE_BUCKETS
        self._versions: dict[tuple[str, str], _Version] = {}
        self._swaps = {"ok": 0, "refused": 0}  # both exported from the start, at 0
        self._fallbacks: dict[tuple[str, str, str], int] = {}
        self.peers: Callable[[], list[dict[str, Any]]] = list

    def snapshot(self) -> dict[str, Any]:
        """Every count as plain JSON, for `add` in another process."""
        return {
            "versions": [
                {
                    "model": name,
                    "version": number,
                    "statuses": dict(v.statuses),
                    "errors": dict(v.errors),
                    "latency": [list(v.latency.counts), v.latency.total],
                    "scores": [list(v.scores.counts), v.scores.total],
                }
                for (name, number), v in list(self._versions.items())
            ],
            "swaps": dict(self._swaps),
            "fallbacks": [[*key, count] for key, count in list(self._fallbacks.items())],
        }

    def add(self, snapshot: dict[str, Any]) -> None:
        """Count what another process's `snapshot()` counted, as if counted here."""
        for entry in snapshot["versions"]:
            version = self._of(entry["model"], entry["version"])
            for mine, theirs in (
                (version.statuses, entry["statuses"]),
                (version.errors, entry["errors"]),
            ):
                for key, count in theirs.items():
                    mine[key] = mine.get(key, 0) + count
            for histogram, (counts, total) in (
                (version.latency, entry["latency"]),
                (version.scores, entry["scores"]),
            ):
                if len(counts) == len(histogram.counts):  # bounds alike (one model kind)
                    histogram.counts = [
                        a + b for a, b in zip(histogram.counts, counts, strict=True)
                    ]
                    histogram.total += total
        for outcome, count in snapshot["swaps"].items():
            self._swaps[outcome] = self._swaps.get(outcome, 0) + count
        for deployment, arm, reason, count in snapshot["fallbacks"]:
            key = (deployment, arm, reason)
            self._fallbacks[key] = self._fallbacks.get(key, 0) + count

    def _of(self, model: str, version: str) -> _Version:
        key = (model, version)
        found = self._versions.get(key)
        if found is None:
            found = self._versions[key] = _Version(
                _Histogram(LATENCY_BUCKETS), _Histogram(self._score_bounds)
            )
        return found

    def succeeded(self, info: ModelVersionInfo, seconds: float, scores: Sequence[float]) -> None:
        """A request answered with 200 in `seconds`, with these predictions' scores."""
        version = self._of(info.name, info.version)
        version.statuses["200"] = version.statuses.get("200", 0) + 1
        version.latency.observe(seconds)
        for score in scores:
            version.scores.observe(score)

    def failed(self, info: ModelVersionInfo, status: int, kind: str) -> None:
        """A request refused or failed with `status`, counted under its `kind`."""
        version = self._of(info.name, info.version)
        key = str(status)
        version.statuses[key] = version.statuses.get(key, 0) + 1
        version.errors[kind] = version.errors.get(kind, 0) + 1

    def fell_back(self, deployment: str, arm: str, kind: str) -> None:
        """A caller routed to `arm` of `deployment` was answered by the primary arm instead
        (or, for a shadow arm, its copy was not scored), because of `kind`."""
        key = (deployment, arm, kind)
        self._fallbacks[key] = self._fallbacks.get(key, 0) + 1

    def swapped(self, ok: bool) -> None:
        self._swaps["ok" if ok else "refused"] += 1

    def collect(self) -> Iterator[Metric]:
        peers = self.peers()
        if not peers:
            return self._families()
        whole = ServingMetrics(classifier=self._score_bounds == SCORE_BUCKETS)
        for snapshot in (self.snapshot(), *peers):
            whole.add(snapshot)
        return whole._families()

    def _families(self) -> Iterator[Metric]:
        versions = list(self._versions.items())  # a snapshot: requests go on meanwhile
        labels = ["model", "version"]
        requests = CounterMetricFamily(
            "prodml_requests", "Prediction requests", labels=[*labels, "status"]
        )
        errors = CounterMetricFamily(
            "prodml_errors", "Refused or failed requests by kind", labels=[*labels, "kind"]
        )
        latency = HistogramMetricFamily(
            "prodml_request_latency_seconds", "Time to answer", labels=labels
        )
        scores = HistogramMetricFamily(
            "prodml_prediction_score",
            "Predicted probabilities (classification) or values (regression)",
            labels=labels,
        )
        for (name, number), version in versions:
            for status, count in list(version.statuses.items()):
                requests.add_metric([name, number, status], count)
            for kind, count in list(version.errors.items()):
                errors.add_metric([name, number, kind], count)
            for family, histogram in ((latency, version.latency), (scores, version.scores)):
                family.add_metric([name, number], histogram.buckets(), histogram.total)
        swaps = CounterMetricFamily(
            "prodml_model_swaps", "Hot swaps tried, by outcome", labels=["outcome"]
        )
        for outcome, count in self._swaps.items():
            swaps.add_metric([outcome], count)
        fallbacks = CounterMetricFamily(
            "prodml_fallbacks",
            "Callers of a deployment's arm answered by its primary arm instead, by reason",
            labels=["deployment", "arm", "reason"],
        )
        for (deployment, arm, reason), count in list(self._fallbacks.items()):
            fallbacks.add_metric([deployment, arm, reason], count)
        yield from (requests, errors, latency, scores, swaps, fallbacks)
