"""The API's metrics read as prometheus_client's own Counter and Histogram would (same
names, labels, bucket edges and sums; no `_created` series, and both swap outcomes from
the start), so dashboards and alerts written for one work on the other."""

import numpy as np
import pytest
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

from prodml.registry import ModelVersionInfo
from prodml.serve.metrics import LATENCY_BUCKETS, SCORE_BUCKETS, ServingMetrics

INFO = ModelVersionInfo("flights", "7", "run", "", ())
OTHER = ModelVersionInfo("flights", "8", "run", "", ())


def _lines(registry: CollectorRegistry, prefix: str) -> list[str]:
    text = generate_latest(registry).decode()
    return sorted(line for line in text.splitlines() if line.startswith(prefix))


def test_histograms_and_counters_match_prometheus_clients_own():
    rng = np.random.default_rng(4)
    # Values on the bucket bounds too: `le` means "less than or equal".
    scores = [*rng.random(500).tolist(), *SCORE_BUCKETS, 0.0]
    latencies = [*rng.exponential(0.003, 500).tolist(), *LATENCY_BUCKETS, 9.0]

    ours = ServingMetrics(classifier=True)
    for i, latency in enumerate(latencies):
        ours.succeeded(INFO if i % 3 else OTHER, latency, [scores[i % len(scores)]])
    ours.failed(INFO, 422, "validation")
    ours.failed(INFO, 422, "validation")
    ours.failed(OTHER, 413, "too_many_rows")
    ours.swapped(True)
    ours.succeeded(INFO, 0.001, [float("nan")])  # a NaN score: in no bucket and not in the sum
    mine = CollectorRegistry()
    mine.register(ours)

    theirs = CollectorRegistry()
    labels = ["model", "version"]
    requests = Counter("prodml_requests", "", [*labels, "status"], registry=theirs)
    errors = Counter("prodml_errors", "", [*labels, "kind"], registry=theirs)
    latency = Histogram(
        "prodml_request_latency_seconds", "", labels, buckets=LATENCY_BUCKETS, registry=theirs
    )
    score = Histogram("prodml_prediction_score", "", labels, buckets=SCORE_BUCKETS, registry=theirs)
    swaps = Counter("prodml_model_swaps", "", ["outcome"], registry=theirs)
    for i, seconds in enumerate(latencies):
        info = INFO if i % 3 else OTHER
        requests.labels(info.name, info.version, "200").inc()
        latency.labels(info.name, info.version).observe(seconds)
        score.labels(info.name, info.version).observe(scores[i % len(scores)])
    requests.labels(INFO.name, INFO.version, "200").inc()
    latency.labels(INFO.name, INFO.version).observe(0.001)  # no NaN: it would make their sum NaN
    for info, status, kind in ((INFO, 422, "validation"),) * 2 + ((OTHER, 413, "too_many_rows"),):
        requests.labels(info.name, info.version, str(status)).inc()
        errors.labels(info.name, info.version, kind).inc()
    swaps.labels("ok").inc()
    swaps.labels("refused")

    for prefix in (
        "prodml_requests_total",
        "prodml_errors_total",
        "prodml_request_latency_seconds_bucket",
        "prodml_request_latency_seconds_count",
        "prodml_prediction_score_bucket",
        "prodml_prediction_score_count",
        "prodml_model_swaps_total",
    ):
        assert _lines(mine, prefix) == _lines(theirs, prefix), prefix
    # Sums agree up to how each side prints a float.
    for prefix in ("prodml_request_latency_seconds_sum", "prodml_prediction_score_sum"):
        for a, b in zip(_lines(mine, prefix), _lines(theirs, prefix), strict=True):
            assert a.rsplit(" ", 1)[0] == b.rsplit(" ", 1)[0]
            assert float(a.rsplit(" ", 1)[1]) == pytest.approx(
                float(b.rsplit(" ", 1)[1]), rel=1e-12
            )
