"""Workers of one server share their counts through files: whichever worker a scrape
reaches reads what one process counting every request would."""

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from prodml.registry import ModelVersionInfo
from prodml.serve.metrics import ServingMetrics
from prodml.serve.metrics_share import MetricsShare

INFO = ModelVersionInfo("flights", "7", "run", "", ())
OTHER = ModelVersionInfo("flights", "8", "run", "", ())


def _count(metrics: ServingMetrics, i: int) -> None:
    info = INFO if i % 3 else OTHER
    metrics.succeeded(info, 0.001 * (i % 40), [i % 10 / 10])
    if i % 7 == 0:
        metrics.failed(info, 422, "validation")
    if i % 11 == 0:
        metrics.fell_back("api", "candidate", "timeout")


def _page(metrics: ServingMetrics) -> dict[str, float]:
    """Each series of a scrape and its value (sums added in another order may differ in
    the last digit: compared with `approx`)."""
    registry = CollectorRegistry()
    registry.register(metrics)
    lines = generate_latest(registry).decode().splitlines()
    return {k: float(v) for k, v in (x.rsplit(" ", 1) for x in lines if not x.startswith("#"))}


def _shared(folder, name: str, metrics: ServingMetrics) -> MetricsShare:
    share = MetricsShare(folder, name, interval=0.05)
    share.attach(metrics)
    return share


def test_each_workers_scrape_reads_what_one_process_counting_all_would(tmp_path):
    alone = ServingMetrics(classifier=True)
    workers = [ServingMetrics(classifier=True) for _ in range(3)]
    shares = [_shared(tmp_path, f"worker-{i}", m) for i, m in enumerate(workers)]
    for i in range(300):
        _count(alone, i)
        _count(workers[i % 3], i)
    workers[1].swapped(True)
    alone.swapped(True)
    for share in shares:
        share.stop()  # each writes its last counts
    for metrics in workers:
        assert _page(metrics) == pytest.approx(_page(alone), rel=1e-12)


def test_a_stopped_workers_counts_stay_and_a_broken_file_is_left_out(tmp_path, caplog):
    one, two = ServingMetrics(classifier=True), ServingMetrics(classifier=True)
    first = _shared(tmp_path, "worker-1", one)
    for i in range(30):
        _count(one, i)
    first.stop()  # uvicorn replaced the worker: its requests still count
    (tmp_path / "worker-9.json").write_text("{not json")
    _shared(tmp_path, "worker-2", two).stop()
    alone = ServingMetrics(classifier=True)
    for i in range(30):
        _count(alone, i)
    assert _page(two) == pytest.approx(_page(alone), rel=1e-12)
    assert "worker-9" in caplog.text
