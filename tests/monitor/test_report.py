"""`prodml monitor report`: one offline HTML file whose charts a browser draws."""

import dataclasses
import functools
import re
from datetime import timedelta

import pandas as pd
import pytest

from prodml.monitor import Reference
from prodml.monitor.report import (
    CURRENT_COLOR,
    ESTIMATED_COLOR,
    REALIZED_COLOR,
    render_report,
)
from prodml.store import Alert, Finding
from tests._browser import pixels_of, screenshot
from tests.monitor._findings import T0, daily_finding


def _findings() -> list[Finding]:
    out = []
    for day in range(6):
        finding = functools.partial(daily_finding, day, late=1)
        shift = 0.1 * day
        out += [
            finding("drift", "wasserstein", shift, "temp"),
            finding("drift", "drifted", float(shift >= 0.1), "temp"),
            finding("drift", "jensenshannon", 0.02, "carrier"),
            finding("drift", "drifted", 0.0, "carrier"),
            finding("estimate", "roc_auc", 0.72 - 0.01 * day),
            finding("performance", "roc_auc", 0.71 - 0.02 * day),
            finding("performance", "roc_auc.low", 0.70 - 0.02 * day),
            finding("performance", "roc_auc.high", 0.72 - 0.02 * day),
            finding("fairness", "demographic_parity_difference", 0.02 * day, "carrier"),
        ]
    return out


def _page(tmp_path, rng) -> tuple[str, object]:
    reference = Reference.from_frame(
        pd.DataFrame({"temp": rng.normal(0, 1, 3000), "carrier": rng.choice(["UA", "AA"], 3000)})
    )
    registered = {"carrier": {"groups": {}, "demographic_parity_difference": 0.01}}
    reference = dataclasses.replace(reference, fairness=registered)
    current = pd.DataFrame(
        {"temp": rng.normal(0.5, 1, 1000), "carrier": rng.choice(["UA", "AA"], 1000)}
    )
    alert = Alert(
        "feature-drift",
        "m",
        "temp",
        "firing",
        T0 + timedelta(days=2),
        T0 + timedelta(days=6),
        1.0,
        {"breaching": 5, "drivers": ["temp"]},
    )
    html = render_report(
        "m",
        _findings(),
        [alert],
        reference=reference,
        current=current,
        generated_at=T0 + timedelta(days=7),
    )
    page = tmp_path / "report.html"
    page.write_text(html, encoding="utf-8")
    return html, page


def test_the_report_is_one_offline_file_with_every_section(tmp_path, rng):
    html, _ = _page(tmp_path, rng)
    for heading in (
        "Alerts",
        "Performance over time",
        "Drift per feature over time",
        "Reference against the newest window",
        "Fairness over time",
    ):
        assert f"<h2>{heading}</h2>" in html
    assert html.count("<svg") == 4  # performance, drift heatmap, fairness, temp's distributions
    for fetches in ("<script", "<link", "<img", "@import", "src="):
        assert fetches not in html  # nothing to load: it opens offline
    assert re.findall(r"url\((?!#)", html) == []  # only references within the page
    assert "firing" in html


def test_a_browser_draws_the_charts(tmp_path, rng):
    """Headless Chromium renders the page: the realized and estimated lines, and the
    newest window's histogram, are there in their colours."""
    _, page = _page(tmp_path, rng)
    image = screenshot(page, tmp_path)
    assert pixels_of(image, REALIZED_COLOR) > 500
    assert pixels_of(image, ESTIMATED_COLOR) > 500
    assert pixels_of(image, CURRENT_COLOR) > 200


@pytest.mark.parametrize("findings", [[]])
def test_nothing_to_chart_says_so(findings):
    html = render_report("m", findings, [], generated_at=T0)
    assert "Nothing to chart yet" in html
    assert "No alerts were raised" in html


def test_the_estimate_is_drawn_as_a_range_when_it_has_one():
    from prodml.monitor.report import performance_chart

    findings = []
    for day in range(4):
        findings += [
            daily_finding(day, "estimate", "roc_auc", 0.72),
            daily_finding(day, "estimate", "roc_auc.low", 0.68),
            daily_finding(day, "estimate", "roc_auc.high", 0.76),
        ]
    (ax,) = performance_chart(findings).axes
    labels = [text.get_text() for text in ax.get_legend().get_texts()]
    assert labels == ["estimate's 95% range", "estimated (CBPE)"]
    (band,) = ax.collections
    low, high = band.get_paths()[0].get_extents().intervaly
    assert (low, high) == pytest.approx((0.68, 0.76))
    # Findings of a reference from before ranges: the line alone.
    (old,) = performance_chart([f for f in findings if f.metric == "roc_auc"]).axes
    assert not old.collections
