"""Monitoring: drift of inputs against the training profile, per time window."""

from prodml.data.profile import psi
from prodml.monitor.drift import DRIFT_THRESHOLD, feature_drift
from prodml.monitor.windows import Window, time_windows

__all__ = ["DRIFT_THRESHOLD", "Window", "feature_drift", "psi", "time_windows"]
