"""The replayed year as one HTML page beside the monitoring report: each arm's AUC per
month on one chart, with the loop's retrains and rollout decisions marked, then the
figures, the months and every decision in tables. Offline, like the monitoring report."""

from __future__ import annotations

from datetime import datetime
from html import escape
from pathlib import Path

import pandas as pd
from matplotlib.dates import date2num
from matplotlib.figure import Figure as Canvas

from prodml.automate.controller import PROMOTE, RETRAINED_KIND, ROLLBACK, ROLLOUT
from prodml.demo.flights import TIMEZONE
from prodml.demo.replay import ARMS, ReplayReport
from prodml.monitor.report import STYLE, chart_html

COLORS = {"frozen": "#7f7f7f", "loop": "#1f77b4", "oracle": "#2ca02c", "bimonthly": "#98df8a"}
LABELS = {
    "frozen": "(a) January–May model, left alone",
    "loop": "(b) continuous training",
    "oracle": "(c) oracle: refitted every month",
    "bimonthly": "(d) oracle on (b)'s budget: every other month",
}
MARKS = {RETRAINED_KIND: ("#1f77b4", ":"), PROMOTE: ("#2ca02c", "-"), ROLLBACK: ("#d62728", "-")}


def write_page(report: ReplayReport, path: Path, *, generated_at: datetime) -> Path:
    """Write the page to `path` and return it."""
    figures = report.figures()
    rows = "".join(
        f"<tr><td>{escape(k)}</td><td>{escape(str(v))}</td></tr>" for k, v in figures.items()
    )
    months = "".join(
        f"<tr><td>{m.start:%b %Y}</td><td>{m.rows:,}</td>"
        + "".join(f"<td>{m.auc[a]:.4f}</td>" for a in ARMS)
        + f"<td>{m.trained['loop']}</td></tr>"
        for m in report.months
    )
    decisions = "".join(
        f"<tr><td>{pd.Timestamp(d.at).tz_convert(TIMEZONE):%b %d %H:%M}</td>"
        f"<td>{escape(d.kind)}</td><td>{escape(d.version or '')}</td>"
        f"<td>{escape(d.reason)}</td></tr>"
        for d in report.decisions
    )
    arms = "".join(f"<th>{escape(LABELS[a])}</th>" for a in ARMS)
    html = (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>prodml · the replayed year</title><style>{STYLE}</style></head><body>"
        "<h1>The replayed year · flights-delay</h1>"
        f"<p class='muted'>Generated {generated_at:%Y-%m-%d %H:%M %Z}. Realized ROC AUC per "
        "month of four arms over the same answered flights.</p>"
        f"{chart_html(_chart(report))}"
        f"<h2>Figures</h2><table>{rows}</table>"
        f"<h2>Months</h2><table><tr><th>month</th><th>flights</th>{arms}"
        f"<th>retrains (b)</th></tr>{months}</table>"
        "<h2>The loop's decisions</h2><table><tr><th>at (New York)</th><th>decision</th>"
        f"<th>version</th><th>why</th></tr>{decisions}</table></body></html>"
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(html, encoding="utf-8")
    return path


def _chart(report: ReplayReport) -> Canvas | None:
    if not report.months:
        return None
    fig = Canvas(figsize=(10, 4))
    ax = fig.subplots()
    middle = [date2num(m.start + pd.Timedelta(days=15)) for m in report.months]
    for arm in ARMS:
        values = [m.auc[arm] for m in report.months]
        ax.plot(middle, values, "o-", color=COLORS[arm], lw=2.2, label=LABELS[arm])
    for kind, (color, style) in MARKS.items():
        times = [date2num(pd.Timestamp(d.at)) for d in report.decisions if d.kind == kind]
        for i, x in enumerate(times):
            ax.axvline(x, color=color, ls=style, lw=1, alpha=0.7, label=kind if i == 0 else None)
    started = [date2num(pd.Timestamp(d.at)) for d in report.decisions if d.kind == ROLLOUT]
    ax.plot(started, [ax.get_ylim()[0]] * len(started), "^", color="#ff7f0e", label="canary")
    ax.xaxis_date()
    ax.set(ylabel="realized ROC AUC", title="AUC per month (point at mid-month)")
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize=8)
    fig.autofmt_xdate()
    return fig
