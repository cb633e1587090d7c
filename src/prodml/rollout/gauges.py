"""A deployment's rollout decisions for Prometheus, read from the metadata store at each
scrape (a server of the deployment exports them on /metrics): how many decisions of each
kind were recorded, and each check's verdict in the newest analysis."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from prodml.store import MetadataStore

logger = logging.getLogger(__name__)


class RolloutCollector(Collector):
    """`prodml_rollout_decisions_total{deployment, action, actor}` and
    `prodml_rollout_check{deployment, check, verdict}` (1 for the newest verdict)."""

    def __init__(self, metadata: MetadataStore, deployment: str) -> None:
        self.metadata, self.deployment = metadata, deployment

    def collect(self) -> Iterator[Metric]:
        try:
            history = self.metadata.deployment_history(self.deployment)
        except Exception:  # an unreachable store must not fail the whole scrape
            logger.warning("Rollout metrics unavailable: the metadata store did not answer")
            return
        decisions = CounterMetricFamily(
            "prodml_rollout_decisions",
            "Changes of a deployment's policy, by action and by who made them",
            labels=["deployment", "action", "actor"],
        )
        for (action, actor), count in Counter((c.action, c.actor) for c in history).items():
            decisions.add_metric([self.deployment, action, actor], count)
        yield decisions
        checks = GaugeMetricFamily(
            "prodml_rollout_check",
            "Each check's verdict (fail, pass, abstain) in the newest analysis",
            labels=["deployment", "check", "verdict"],
        )
        judged = next((c for c in reversed(history) if c.figures.get("checks")), None)
        for check, found in (judged.figures["checks"] if judged else {}).items():
            checks.add_metric([self.deployment, check, str(found.get("verdict"))], 1)
        yield checks
