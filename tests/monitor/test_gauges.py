"""Monitoring's Prometheus gauges: the newest finding per series, firing alerts, and the
same series in `prodml serve`'s /metrics."""

from datetime import timedelta

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from prodml.monitor.gauges import FindingsCollector
from prodml.store import Alert, MetadataStore
from tests.monitor._findings import T0, daily_finding


@pytest.fixture
def metadata(tmp_path):
    store = MetadataStore(f"sqlite:///{tmp_path / 'meta.db'}")
    yield store
    store.close()


def _finding(day: int, monitor: str, metric: str, value: float, feature=None, created=0):
    return daily_finding(day, monitor, metric, value, feature, version="2", late=created)


def _samples(collector) -> dict:
    registry = CollectorRegistry()
    registry.register(collector)
    text = generate_latest(registry).decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_gauges_show_the_newest_window_and_the_newest_measurement(metadata):
    metadata.add_findings(
        [
            _finding(0, "drift", "wasserstein", 0.05, "temp"),
            _finding(1, "drift", "wasserstein", 0.31, "temp"),
            _finding(1, "drift", "drifted", 1.0, "temp"),
            _finding(1, "estimate", "roc_auc", 0.71),
            _finding(1, "performance", "roc_auc", 0.69),  # labels arrived ...
            _finding(1, "performance", "roc_auc", 0.66, created=3),  # ... and more came
            _finding(1, "performance", "roc_auc.low", 0.65, created=3),
            _finding(1, "performance", "roc_auc", 0.8, "carrier=UA", created=3),
            _finding(1, "performance", "labelled", 900.0, created=3),
            _finding(1, "multivariate", "domain_auc", 0.62),
            _finding(1, "segment", "drifted_features", 2.0, "origin=JFK"),
            _finding(1, "fairness", "demographic_parity_difference", 0.2, "color"),
            _finding(1, "fairness", "selection_rate", 0.4, "color=red"),
            _finding(1, "quality", "rejected_share", 0.05),
            _finding(1, "quality", "rejected_by_reason", 0.04, "color: unknown category"),
            _finding(1, "quality", "unseen_category", 0.04, "color=teal"),
            _finding(1, "performance", "worse_than_registered", 1.0, created=3),
            _finding(1, "estimate", "worse_than_registered", 0.0),
        ]
    )
    metadata.save_alert(Alert("feature-drift", "m", "temp", "firing", T0, T0, 1.0))
    samples = _samples(FindingsCollector(metadata, "m"))
    base = (("model", "m"), ("version", "2"))
    assert (
        samples["prodml_drift_score", (("feature", "temp"), ("method", "wasserstein"), *base)]
        == 0.31
    )
    assert samples["prodml_drift_detected", (("feature", "temp"), *base)] == 1.0
    realized = (("kind", "realized"), ("metric", "roc_auc"), *base)
    estimated = (("kind", "estimated"), ("metric", "roc_auc"), *base)
    assert samples["prodml_performance", tuple(sorted(realized))] == 0.66
    assert samples["prodml_performance", tuple(sorted(estimated))] == 0.71
    assert samples["prodml_labelled_predictions", base] == 900.0
    assert (
        samples["prodml_monitor_window_end_seconds", base] == (T0 + timedelta(days=2)).timestamp()
    )
    assert samples["prodml_multivariate_drift", base] == 0.62
    segment = tuple(sorted((*base, ("segment", "origin=JFK"))))
    assert samples["prodml_segment_drifted_features", segment] == 2.0
    gap = tuple(
        sorted((*base, ("attribute", "color"), ("metric", "demographic_parity_difference")))
    )
    assert samples["prodml_fairness_gap", gap] == 0.2
    alert = (("model", "m"), ("rule", "feature-drift"), ("subject", "temp"), ("version", ""))
    assert samples["prodml_alert_firing", alert] == 1.0
    assert not any(dict(labels).get("metric") == "roc_auc.low" for _, labels in samples)
    refused = (("feature", ""), ("metric", "rejected_share"), *base)
    by_reason = (("feature", "color: unknown category"), ("metric", "rejected_by_reason"), *base)
    assert samples["prodml_data_quality", tuple(sorted(refused))] == 0.05
    assert samples["prodml_data_quality", tuple(sorted(by_reason))] == 0.04
    # One series per unseen category would grow without bound: those stay in the findings.
    assert not any(dict(labels).get("metric") == "unseen_category" for _, labels in samples)
    below = "prodml_performance_below_registration"
    assert samples[below, tuple(sorted((("kind", "realized"), *base)))] == 1.0
    assert samples[below, tuple(sorted((("kind", "estimated"), *base)))] == 0.0
    assert not any(dict(labels).get("metric") == "worse_than_registered" for _, labels in samples)


def test_a_database_outage_keeps_the_last_gauges_and_the_scrape_alive(metadata, monkeypatch):
    from prodml.errors import StoreUnavailableError

    metadata.add_findings([_finding(0, "drift", "drifted", 1.0, "temp")])
    collector = FindingsCollector(metadata, "m", refresh_seconds=0)
    before = _samples(collector)

    def down(**_):
        raise StoreUnavailableError("The metadata database at postgresql://db failed.")

    monkeypatch.setattr(metadata, "list_findings", down)
    assert _samples(collector) == before


def test_reads_are_cached_between_scrapes(metadata):
    collector = FindingsCollector(metadata, "m", refresh_seconds=3600)
    assert _samples(collector) == {}
    metadata.add_findings([_finding(0, "drift", "drifted", 1.0, "temp")])
    assert _samples(collector) == {}  # within the refresh interval
    assert _samples(FindingsCollector(metadata, "m")) != {}


def test_the_serving_api_exports_the_gauges_beside_its_own(metadata, tmp_path, clock):
    import numpy as np
    from fastapi.testclient import TestClient

    from prodml.registry import ModelVersionInfo
    from prodml.serve import PredictionLog, Predictor, create_app
    from prodml.train import fit_model
    from tests._data import TOY_SPEC, toy_frame

    model = fit_model("logistic", toy_frame(np.random.default_rng(2), 300), "y", TOY_SPEC)
    predictor = Predictor(model, ModelVersionInfo("m", "2", "run", "src", ()))
    metadata.add_findings([_finding(0, "drift", "drifted", 1.0, "temp")])
    with PredictionLog(tmp_path / "log") as log:
        app = create_app(predictor, log, clock, collectors=[FindingsCollector(metadata, "m")])
        text = TestClient(app).get("/metrics").text
    assert 'prodml_drift_detected{feature="temp",model="m",version="2"} 1.0' in text
    assert "# TYPE prodml_requests_total counter" in text  # its own series are still there


def test_the_grafana_dashboard_queries_only_gauges_the_collector_exports(metadata):
    import json
    import re
    from pathlib import Path

    dashboard = Path(__file__).parents[2] / "deploy" / "grafana" / "prodml-monitoring.json"
    document = json.loads(dashboard.read_text())
    exprs = [t["expr"] for p in document["panels"] for t in p["targets"]]
    exprs += [v["query"] for v in document["templating"]["list"] if v["type"] == "query"]
    queried = {m for e in exprs for m in re.findall(r"prodml_\w+", e)}
    metadata.add_findings(
        [
            _finding(0, "drift", "wasserstein", 0.3, "temp"),
            _finding(0, "drift", "drifted", 1.0, "temp"),
            _finding(0, "estimate", "roc_auc", 0.7),
            _finding(0, "performance", "roc_auc", 0.7),
            _finding(0, "performance", "labelled", 10.0),
            _finding(0, "multivariate", "domain_auc", 0.6),
            _finding(0, "segment", "drifted_features", 1.0, "origin=JFK"),
            _finding(0, "fairness", "equalized_odds_difference", 0.1, "color"),
        ]
    )
    metadata.save_alert(Alert("feature-drift", "m", "temp", "firing", T0, T0, 1.0))
    exported = {name for name, _ in _samples(FindingsCollector(metadata))}
    assert queried
    assert queried <= exported
