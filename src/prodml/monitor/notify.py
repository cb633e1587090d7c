"""Where alerts go: always the log, and any apprise URLs configured (`monitoring.notify`):
a webhook (``json://host/path``), e-mail (``mailto://``, ``mailtos://``), chat and paging
services — one notification library instead of a client per service."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from prodml.errors import ConfigError
from prodml.store import Alert

logger = logging.getLogger("prodml.alerts")


class Notifier:
    """Sends alert notifications to the log and to `urls` (apprise URLs)."""

    def __init__(self, urls: Sequence[str] = ()) -> None:
        self.urls = list(urls)
        self._apprise: Any = None
        if not self.urls:
            return
        try:
            import apprise
        except ImportError as exc:
            raise ConfigError(
                "monitoring.notify lists URLs, which need apprise: pip install 'prodml[alerts]'."
            ) from exc
        self._apprise = apprise.Apprise()
        for url in self.urls:
            if not self._apprise.add(url):
                raise ConfigError(
                    f"monitoring.notify: {_redact(url)} is not a notification URL apprise "
                    "knows; see https://github.com/caronc/apprise/wiki for the forms."
                )

    def send(self, alert: Alert, event: str) -> bool:
        """Announce `event` ("firing", "still firing", "resolved") of `alert`; returns
        whether every configured destination took it (the log always does)."""
        title = f"[prodml] {alert.model_name}: {alert.rule} {event} ({alert.subject or 'model'})"
        body = describe(alert)
        log = logger.info if event == "resolved" else logger.warning
        log("%s — %s", title, body)
        if self._apprise is None:
            return True
        kind = "success" if event == "resolved" else "warning"
        delivered = bool(self._apprise.notify(title=title, body=body, notify_type=kind))
        if not delivered:
            logger.error("alert %s could not be delivered to every notify URL", alert.rule)
        return delivered


def describe(alert: Alert) -> str:
    """What happened, as a sentence a person on call can act on, e.g. "Feature `temp`
    drifted: wasserstein 2.53 in the window ending 2013-12-01 05:00 UTC, 6 windows in a
    row; drifting with it: dewp, humid." """
    detail = alert.detail
    windows = int(detail.get("breaching", 1))
    run = f"{windows} windows in a row" if windows > 1 else "one window"
    ending = f"the window ending {alert.last_window_end:%Y-%m-%d %H:%M %Z}"
    bound = (
        f"above {detail['above']:g}"
        if detail.get("above") is not None
        else f"below {detail.get('below', float('nan')):g}"
    )
    monitor, metric, subject = detail.get("monitor"), detail.get("metric"), alert.subject
    others = [d for d in detail.get("drivers", []) if d != subject]
    if monitor == "drift" and metric == "drifted":
        what = f"Feature `{subject}`" if subject else "The prediction"
        if subject == "prediction":
            what = "The prediction"
        figure = (
            f"{detail['method']} {detail['statistic']:.3g}" if "method" in detail else "drifted"
        )
        text = f"{what} drifted: {figure} in {ending}, {run}"
        return text + (f"; drifting with it: {_some(others)}." if others else ".")
    if monitor == "multivariate":
        text = (
            f"The inputs drifted together: a classifier tells {ending} from the reference "
            f"with AUC {alert.value:.3f} ({bound}), {run}"
        )
        return text + (f"; the features most apart: {_some(others)}." if others else ".")
    if monitor == "concept":
        return f"The model's errors began to rise (concept drift) in {ending}."
    if metric == "worse_than_registered":
        figure = detail.get("figure", {})
        kind = "estimated (no labels yet)" if monitor == "estimate" else "realized"
        quoted = ""
        if {"metric", "value", "low", "high"} <= set(figure):
            quoted = (
                f" {figure['metric']} {figure['value']:.3f} "
                f"[{figure['low']:.3f}, {figure['high']:.3f}]"
            )
        return (
            f"Performance, {kind}, fell below what registration measured:{quoted} lies wholly "
            f"on the worse side of the registration's interval in {ending}, {run}."
        )
    if monitor == "quality" and metric == "rejected_share":
        reasons = ", ".join(f"{r} ({share:.1%})" for r, share in detail.get("reasons", [])[:3])
        why = f"; most for {reasons}" if reasons else ""
        return f"{alert.value:.1%} of rows were refused before scoring in {ending}, {run}{why}."
    if monitor == "quality" and metric == "out_of_range_share":
        return (
            f"{alert.value:.1%} of `{subject}` values lie beyond the range training saw in "
            f"{ending}, {run}."
        )
    if monitor == "quality" and metric == "unseen_share":
        unseen = ", ".join(f"{v!r} ({share:.1%})" for v, share in detail.get("unseen", [])[:3])
        return (
            f"{alert.value:.1%} of `{subject}` values are categories training never saw "
            f"in {ending}, {run}" + (f": {unseen}." if unseen else ".")
        )
    kind = {"estimate": "estimated (no labels yet)", "performance": "realized"}.get(
        str(monitor), str(monitor)
    )
    on = f" of `{subject}`" if subject else ""
    return f"{metric}{on}, {kind}, was {alert.value:.4g} ({bound}) in {ending}, {run}."


def _some(names: list[str], shown: int = 4) -> str:
    more = len(names) - shown
    return ", ".join(names[:shown]) + (f" and {more} more" if more > 0 else "")


def _redact(url: str) -> str:
    scheme, sep, rest = url.partition("://")
    return f"{scheme}{sep}…" if "@" in rest else url
