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
    """One paragraph a person on call can act on."""
    detail = alert.detail
    bound = (
        f"above {detail['above']}"
        if detail.get("above") is not None
        else f"below {detail.get('below')}"
    )
    text = (
        f"{detail.get('monitor', '')} {detail.get('metric', '')} of "
        f"{alert.subject or alert.model_name} was {alert.value:.4g} ({bound}) in "
        f"{detail.get('breaching', 1)} window(s) in a row, the last ending "
        f"{alert.last_window_end:%Y-%m-%d %H:%M %Z}."
    )
    if detail.get("drivers"):
        text += f" Drifted in that window: {', '.join(detail['drivers'])}."
    return text


def _redact(url: str) -> str:
    scheme, sep, rest = url.partition("://")
    return f"{scheme}{sep}…" if "@" in rest else url
