"""Prometheus gauges of monitoring: the latest drift score and flag per feature, the domain
classifier's AUC, drifted features per segment, estimated and realized performance,
labelled rows and firing alerts, read from the metadata DB.

A custom collector, so `/metrics` always shows what the last `prodml monitor run` found
without a process having to set gauges; reads are cached for `refresh_seconds`, since
findings change only when the monitor runs and a scrape should stay cheap.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from prodml.errors import StoreUnavailableError
from prodml.monitor.compare import STATISTICS
from prodml.store import Finding, MetadataStore

logger = logging.getLogger(__name__)

_BOUNDS = (".low", ".high")


class FindingsCollector(Collector):
    """Gauges of model `model_name`'s newest findings (every model's when None)."""

    def __init__(
        self,
        metadata: MetadataStore,
        model_name: str | None = None,
        *,
        refresh_seconds: float = 30.0,
    ) -> None:
        self.metadata = metadata
        self.model_name = model_name
        self.refresh_seconds = refresh_seconds
        self._lock = threading.Lock()
        self._cached: list[Metric] = []
        self._read_at = float("-inf")

    def describe(self) -> Iterator[Metric]:
        return iter(())  # the series depend on the DB: registering must not read it

    def collect(self) -> Iterator[Metric]:
        with self._lock:
            if time.monotonic() - self._read_at >= self.refresh_seconds:
                try:
                    self._cached = self._read()
                except StoreUnavailableError as exc:
                    # The serving metrics beside these must still be scraped: keep the
                    # last gauges read, and try again at the next refresh.
                    logger.warning("monitoring gauges not refreshed: %s", exc)
                self._read_at = time.monotonic()
            return iter(self._cached)

    def _read(self) -> list[Metric]:
        drift = GaugeMetricFamily(
            "prodml_drift_score",
            "Drift statistic of the newest judged window, per feature (and `prediction`).",
            labels=["model", "version", "feature", "method"],
        )
        drifted = GaugeMetricFamily(
            "prodml_drift_detected",
            "1 if the feature drifted in the newest judged window, else 0.",
            labels=["model", "version", "feature"],
        )
        performance = GaugeMetricFamily(
            "prodml_performance",
            "A metric of the newest window that has it: realized (from labels) or estimated "
            "(CBPE, from scores alone).",
            labels=["model", "version", "metric", "kind"],
        )
        labelled = GaugeMetricFamily(
            "prodml_labelled_predictions",
            "Labelled predictions in the newest window with realized performance.",
            labels=["model", "version"],
        )
        window = GaugeMetricFamily(
            "prodml_monitor_window_end_seconds",
            "End of the newest judged window (Unix time): how fresh the monitoring is.",
            labels=["model", "version"],
        )
        domain = GaugeMetricFamily(
            "prodml_multivariate_drift",
            "ROC AUC of a classifier telling the newest window from the reference (0.5: alike).",
            labels=["model", "version"],
        )
        segments = GaugeMetricFamily(
            "prodml_segment_drifted_features",
            "Features drifted within each judged segment value in the newest window.",
            labels=["model", "version", "segment"],
        )
        fairness = GaugeMetricFamily(
            "prodml_fairness_gap",
            "Largest gap between groups of a sensitive attribute in the newest labelled window "
            "(demographic parity or equalized odds difference).",
            labels=["model", "version", "attribute", "metric"],
        )
        quality = GaugeMetricFamily(
            "prodml_data_quality",
            "Data quality of the newest judged window: the share of rows refused before "
            "scoring (all, or per reason as `feature`), and per feature the share missing, "
            "beyond the training range, or of categories training never held.",
            labels=["model", "version", "metric", "feature"],
        )
        below = GaugeMetricFamily(
            "prodml_performance_below_registration",
            "1 if the newest window's interval lies wholly below the one measured at "
            "registration (realized, or estimated before labels), else 0.",
            labels=["model", "version", "kind"],
        )
        alerts = GaugeMetricFamily(
            "prodml_alert_firing",
            "1 for each alert firing, by rule and subject.",
            labels=["model", "version", "rule", "subject"],
        )
        newest_end: dict[tuple[str, str], float] = {}
        for f in _newest(self.metadata.list_findings(model_name=self.model_name)):
            base = [f.model_name, f.model_version]
            if f.monitor == "drift" and f.metric == "drifted":
                drifted.add_metric([*base, f.feature or ""], f.value)
            elif f.monitor == "drift" and f.metric in STATISTICS:
                drift.add_metric([*base, f.feature or "", f.metric], f.value)
                key = (f.model_name, f.model_version)
                newest_end[key] = max(newest_end.get(key, 0.0), f.window_end.timestamp())
            elif f.metric == "worse_than_registered":
                kind = "estimated" if f.monitor == "estimate" else "realized"
                below.add_metric([*base, kind], f.value)
            elif f.monitor == "quality" and f.metric != "unseen_category":
                quality.add_metric([*base, f.metric, f.feature or ""], f.value)
            elif f.monitor == "performance" and f.metric == "labelled":
                labelled.add_metric(base, f.value)
            elif f.monitor == "performance" and not f.metric.endswith(_BOUNDS) and not f.feature:
                performance.add_metric([*base, f.metric, "realized"], f.value)
            elif f.monitor == "estimate" and not f.metric.endswith(_BOUNDS):
                performance.add_metric([*base, f.metric, "estimated"], f.value)
            elif f.monitor == "multivariate" and f.metric == "domain_auc":
                domain.add_metric(base, f.value)
            elif f.monitor == "fairness" and f.metric.endswith("_difference"):
                fairness.add_metric([*base, f.feature or "", f.metric], f.value)
            elif f.monitor == "segment" and f.metric == "drifted_features":
                segments.add_metric([*base, f.feature or ""], f.value)
        for (model, version), end in newest_end.items():
            window.add_metric([model, version], end)
        for alert in self.metadata.list_alerts(model_name=self.model_name, status="firing"):
            version = str(alert.detail.get("version", ""))
            alerts.add_metric([alert.model_name, version, alert.rule, alert.subject], 1.0)
        families = [drift, drifted, performance, labelled, window, domain, segments, fairness]
        return [*families, quality, below, alerts]


def _newest(findings: list[Finding]) -> list[Finding]:
    """Per model, version, monitor, metric and feature, the finding of the newest window
    (the newest measurement of it, as performance is re-measured when labels arrive)."""
    newest: dict[tuple[str, str, str, str, str | None], Finding] = {}
    for f in findings:
        key = (f.model_name, f.model_version, f.monitor, f.metric, f.feature)
        seen = newest.get(key)
        if seen is None or (f.window_end, f.created_at) >= (seen.window_end, seen.created_at):
            newest[key] = f
    return list(newest.values())


def serve_gauges(
    metadata: MetadataStore, model_name: str | None, *, host: str, port: int
) -> tuple[WSGIServer, threading.Thread]:
    """A `/metrics` endpoint of these gauges alone, in a background thread (`prodml
    monitor exporter`), for a Prometheus to scrape where no prediction server runs."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(FindingsCollector(metadata, model_name))
    return start_http_server(port, addr=host, registry=registry)
