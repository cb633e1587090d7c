"""Monitoring: drift of inputs against the training profile, and realized performance."""

from prodml.monitor.drift import DRIFT_THRESHOLD, feature_drift, psi
from prodml.monitor.performance import metrics_by_window

__all__ = ["DRIFT_THRESHOLD", "feature_drift", "metrics_by_window", "psi"]
