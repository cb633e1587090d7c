"""Alert rules over findings: consecutive windows, one alert per episode and subject,
cool-down, resolution, and delivery to the log, a webhook and e-mail."""

import functools
import json
import logging
import socket
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from prodml.errors import ConfigError
from prodml.monitor.alerts import evaluate_alerts
from prodml.monitor.notify import Notifier
from prodml.settings import AlertRule
from prodml.store import MetadataStore
from tests.monitor._findings import T0 as DAY0
from tests.monitor._findings import daily_finding

DRIFT = AlertRule(name="drift", monitor="drift", metric="drifted", above=0.5, cooldown_hours=72)
AUC = AlertRule(name="auc", monitor="estimate", metric="roc_auc", below=0.7, windows=2)


@pytest.fixture
def metadata(tmp_path):
    store = MetadataStore(f"sqlite:///{tmp_path / 'meta.db'}")
    yield store
    store.close()


def _day(metadata, day: int, version: str = "1", late: int = 0, **values) -> None:
    """Findings of one daily window: `feature=1.0` drift flags and `roc_auc=`; `late`
    days after the window (a re-measurement)."""
    finding = functools.partial(daily_finding, day, version=version, late=late)
    findings = []
    for key, value in values.items():
        if key == "roc_auc":
            findings.append(finding("estimate", "roc_auc", value))
        else:
            findings += [finding("drift", m, value, key) for m in ("drifted", "wasserstein")]
    metadata.add_findings(findings)


def _run(metadata, day: int, rules=(DRIFT, AUC), notifier=None):
    now = DAY0 + timedelta(days=day + 1, hours=1)
    return evaluate_alerts("m", rules, metadata, notifier or Notifier(), now=now)


def test_a_breach_opens_one_alert_per_subject_until_a_window_passes(metadata):
    _day(metadata, 0, temp=0.0, wind=0.0)
    assert _run(metadata, 0) == []
    _day(metadata, 1, temp=1.0, wind=0.0)
    (opened,) = _run(metadata, 1)
    assert (opened.event, opened.alert.subject, opened.alert.status) == ("firing", "temp", "firing")
    _day(metadata, 2, temp=1.0, wind=0.0)
    assert _run(metadata, 2) == []  # still firing, inside the cool-down: deduplicated
    assert _run(metadata, 2) == []  # and a repeated run notifies nothing
    _day(metadata, 3, temp=1.0, wind=0.0)
    (still,) = evaluate_alerts("m", [DRIFT], metadata, Notifier(), now=DAY0 + timedelta(days=6))
    assert still.event == "still firing"  # a new breach, a cool-down after the last notice
    _day(metadata, 5, temp=0.0, wind=0.0)
    (resolved,) = _run(metadata, 5)
    assert (resolved.event, resolved.alert.status) == ("resolved", "resolved")
    stored = metadata.list_alerts(model_name="m")
    assert len(stored) == 1
    assert stored[0].detail["breaching"] == 3


def test_n_consecutive_windows_are_needed_before_it_fires(metadata):
    _day(metadata, 0, roc_auc=0.65)
    assert _run(metadata, 0) == []
    _day(metadata, 1, roc_auc=0.75)
    _day(metadata, 2, roc_auc=0.65)
    assert _run(metadata, 2) == []
    _day(metadata, 3, roc_auc=0.6)
    (event,) = _run(metadata, 3)
    assert event.alert.rule == "auc"
    assert event.alert.value == 0.6


def test_an_alert_names_the_features_that_drifted_in_its_window(metadata):
    _day(metadata, 0, roc_auc=0.6, temp=1.0, wind=0.0, visib=2.0)
    _day(metadata, 1, roc_auc=0.6, temp=1.0, wind=0.0, visib=2.0)
    (auc,) = [e for e in _run(metadata, 1) if e.alert.rule == "auc"]
    assert auc.alert.detail["drivers"] == ["visib", "temp"]


def test_a_rule_needs_exactly_one_bound():
    with pytest.raises(ValueError, match="exactly one of"):
        AlertRule(name="x", monitor="drift", metric="drifted")


def test_an_unknown_notify_url_is_a_config_error():
    with pytest.raises(ConfigError, match="not a notification URL"):
        Notifier(["nope://what"])


def test_alerts_reach_the_log_a_webhook_and_email(metadata, caplog):
    from aiosmtpd.controller import Controller

    posted, mailed = [], []

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self):
            posted.append(json.loads(self.rfile.read(int(self.headers["content-length"]))))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    class Mailbox:
        async def handle_DATA(self, server, session, envelope):
            mailed.append((envelope.rcpt_tos, envelope.content.decode()))
            return "250 OK"

    hook = HTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=hook.serve_forever, daemon=True).start()
    with socket.socket() as probe:  # aiosmtpd's controller needs its port up front
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    smtp = Controller(Mailbox(), hostname="127.0.0.1", port=port)
    smtp.start()
    try:
        notifier = Notifier(
            [
                f"json://127.0.0.1:{hook.server_port}/alerts",
                f"mailto://127.0.0.1:{port}"
                "?from=prodml@example.com&to=oncall@example.com&mode=insecure",
            ]
        )
        _day(metadata, 0, temp=1.0)
        with caplog.at_level(logging.WARNING, logger="prodml.alerts"):
            (event,) = _run(metadata, 0, notifier=notifier)
    finally:
        hook.shutdown()
        hook.server_close()
        smtp.stop()
    assert event.delivered
    assert "drift firing (temp)" in caplog.text
    assert "drift firing (temp)" in posted[0]["title"]
    assert "Feature `temp` drifted: wasserstein 1 in the window ending" in posted[0]["message"]
    ((recipients, message),) = mailed
    assert recipients == ["oncall@example.com"]
    assert "drift firing (temp)" in message


def test_two_live_versions_are_judged_apart(metadata):
    for day in range(3):  # version 2 runs beside version 1 (a canary) and drifts
        _day(metadata, day, temp=0.0)
        _day(metadata, day, version="2", temp=1.0)
    events = _run(metadata, 2)
    assert [(e.alert.subject, e.alert.detail["version"], e.alert.status) for e in events] == [
        ("temp", "2", "firing")
    ]
    assert events[0].alert.detail["breaching"] == 3


def test_an_alert_whose_figure_was_re_measured_above_the_bound_resolves(metadata):
    _day(metadata, 0, roc_auc=0.6)
    _day(metadata, 1, roc_auc=0.6)
    (fired,) = _run(metadata, 1)
    assert fired.event == "firing"
    _day(metadata, 1, late=2, roc_auc=0.78)  # more labels came: the day was fine after all
    (gone,) = _run(metadata, 3)
    assert (gone.event, gone.alert.status) == ("resolved", "resolved")
    assert metadata.list_alerts(status="firing") == []


def test_an_undelivered_notice_is_sent_again_on_the_next_run(metadata):
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    _day(metadata, 0, temp=1.0)
    (failed,) = _run(metadata, 0, notifier=Notifier([f"json://127.0.0.1:{port}/alerts"]))
    assert not failed.delivered
    assert metadata.list_alerts()[0].notified_at is None
    (again,) = _run(metadata, 0)  # delivered to the log this time
    assert (again.event, again.delivered) == ("firing", True)
    assert _run(metadata, 0) == []


def test_alert_notices_read_as_sentences_with_the_figure_that_decided(metadata):
    from prodml.monitor.notify import describe

    for day in range(6):
        _day(metadata, day, temp=1.0, dewp=1.0, roc_auc=0.61)
    events = {(e.alert.rule, e.alert.subject): e.alert for e in _run(metadata, 5)}
    drift = describe(events["drift", "temp"])
    assert drift.startswith(
        "Feature `temp` drifted: wasserstein 1 in the window ending 2013-07-07 00:00 UTC"
    )
    assert drift.endswith(", 6 windows in a row; drifting with it: dewp.")
    auc = describe(events["auc", ""])
    assert auc.startswith("roc_auc, estimated (no labels yet), was 0.61 (below 0.7) in the window")
    assert auc.endswith(", 6 windows in a row.")
