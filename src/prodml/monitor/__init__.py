"""Monitoring: drift of a window of traffic against the reference built at registration.

`reference.Reference` is built once per registered version; `compare.compare` judges a
window against it, feature by feature, with the statistics of `stats`; `windows` cuts
traffic into the windows monitors report on.
"""

from prodml.monitor.compare import FeatureDrift, compare
from prodml.monitor.reference import Reference
from prodml.monitor.windows import Window, time_windows

__all__ = ["FeatureDrift", "Reference", "Window", "compare", "time_windows"]
