"""`prodml monitor report`: one HTML file, readable offline, of what monitoring found.

Charts are SVG drawn by matplotlib and written into the page (text as paths, no fonts,
no script, no network): performance over time (realized with its interval, and the
label-free estimate), drift per feature per window, the reference against the newest
window for the most drifted features, and the alerts with the features that drove them.
"""

from __future__ import annotations

import io
from collections import defaultdict
from collections.abc import Callable, Sequence
from datetime import datetime
from html import escape
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
from matplotlib.dates import date2num
from matplotlib.figure import Figure as Canvas

from prodml.monitor.compare import STATISTICS
from prodml.monitor.reference import NUMERIC, Reference
from prodml.store import Alert, Finding, MetadataStore

REALIZED_COLOR, ESTIMATED_COLOR = "#1f77b4", "#ff7f0e"
CURRENT_COLOR = "#d62728"
STYLE = """
body { font: 15px/1.45 system-ui, sans-serif; margin: 2rem auto; max-width: 1100px; color: #222; }
h1 { font-size: 1.6rem; } h2 { margin-top: 2.2rem; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; margin: .8rem 0; } td, th { padding: .25rem .7rem;
  border-bottom: 1px solid #eee; text-align: left; } .firing { color: #c00; font-weight: 600; }
.chart svg { max-width: 100%; height: auto; } .muted { color: #777; }
.grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(330px, 1fr)); gap: 1rem; }
"""


def write_report(
    name: str,
    path: Path,
    metadata: MetadataStore,
    reference_of: Callable[[str], Reference],
    records: pd.DataFrame,
    *,
    now: datetime,
    timezone: str = "UTC",
) -> Path:
    """Write the report of model `name` to `path`: its findings and alerts, and the newest
    window of its logged `records` against that version's reference."""
    from prodml.errors import NotFoundError
    from prodml.monitor.traffic import between, traffic_frame

    findings = metadata.list_findings(model_name=name)
    if not findings:
        raise NotFoundError(f"No findings for {name!r} yet: run `prodml monitor run {name}` first.")
    newest = max(findings, key=lambda f: (f.window_start, f.model_version))
    current = None
    if not records.empty:
        traffic = traffic_frame(records)
        answered = between(traffic, newest.window_start, newest.window_end)
        current = answered[answered["version"] == newest.model_version]
    html = render_report(
        name,
        findings,
        metadata.list_alerts(model_name=name),
        reference=reference_of(newest.model_version),
        current=current,
        generated_at=now,
        timezone=timezone,
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(html, encoding="utf-8")
    return path


def render_report(
    name: str,
    findings: Sequence[Finding],
    alerts: Sequence[Alert],
    *,
    reference: Reference | None = None,
    current: pd.DataFrame | None = None,
    generated_at: datetime,
    top: int = 6,
    timezone: str = "UTC",
) -> str:
    """The report's HTML. `reference` and `current` (the newest window's traffic) give
    the distribution charts of its `top` most drifted features; dates are shown in
    `timezone` (the monitoring calendar's)."""
    zone = ZoneInfo(timezone)
    drift = [f for f in findings if f.monitor == "drift"]
    sections = [
        f"<h1>Monitoring report · {escape(name)}</h1>",
        f"<p class='muted'>Generated {generated_at:%Y-%m-%d %H:%M %Z} from "
        f"{len(findings):,} findings over {len({f.window_start for f in findings})} window(s) "
        f"of version(s) {escape(', '.join(sorted({f.model_version for f in findings})))}.</p>",
        "<h2>Alerts</h2>",
        _alerts_table(alerts, zone),
        "<h2>Performance over time</h2>",
        chart_html(performance_chart(findings)),
        "<h2>Drift per feature over time</h2>",
        "<p class='muted'>Each cell: the window's drift statistic against the reference "
        "(Wasserstein in reference standard deviations, or Jensen–Shannon distance); "
        "✕ marks a feature judged drifted.</p>",
        chart_html(drift_heatmap(drift, zone)),
        "<h2>Multivariate drift</h2>",
        "<p class='muted'>ROC AUC of a classifier trained to tell each window's rows from "
        "the reference's (0.5: indistinguishable), and the features it relied on most in "
        "the newest window.</p>",
        _multivariate(findings),
        _segments(findings, zone),
        _fairness(findings, reference),
    ]
    newest = _newest_drifted(drift, top)
    if reference is not None and current is not None and newest:
        sections += [
            "<h2>Reference against the newest window</h2>",
            "<div class='grid'>",
            *(
                chart_html(_distribution(feature, reference, current))
                for feature in newest
                if feature in reference.columns and feature in current
            ),
            "</div>",
        ]
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>prodml monitoring · {escape(name)}</title><style>{STYLE}</style></head>"
        f"<body>{''.join(sections)}</body></html>"
    )


def _alerts_table(alerts: Sequence[Alert], zone: ZoneInfo) -> str:
    if not alerts:
        return "<p>No alerts were raised.</p>"
    rows = "".join(
        f"<tr><td class='{a.status}'>{a.status}</td><td>{escape(a.rule)}</td>"
        f"<td>{escape(a.subject or '(model)')}</td><td>{a.value:.4g}</td>"
        f"<td>{a.detail.get('breaching', '')}</td>"
        f"<td>{a.first_window_end.astimezone(zone):%Y-%m-%d %H:%M}</td>"
        f"<td>{a.last_window_end.astimezone(zone):%Y-%m-%d %H:%M}</td>"
        f"<td>{escape(', '.join(a.detail.get('drivers', [])[:5]))}</td></tr>"
        for a in alerts
    )
    head = (
        "<tr><th>status</th><th>rule</th><th>subject</th><th>value</th><th>windows</th>"
        "<th>first window end</th><th>last</th><th>drifted features (drivers)</th></tr>"
    )
    return f"<table>{head}{rows}</table>"


def performance_chart(findings: Sequence[Finding]) -> Canvas | None:
    """Realized performance per window with its interval, and the label-free estimate."""
    series: dict[tuple[str, str], dict[datetime, float]] = defaultdict(dict)
    newest: dict[tuple[str, str, datetime], datetime] = {}
    for f in findings:
        if f.feature or f.monitor not in ("performance", "estimate") or f.metric == "labelled":
            continue
        key = (f.monitor, f.metric, f.window_start)
        if key not in newest or f.created_at >= newest[key]:
            newest[key] = f.created_at
            series[(f.monitor, f.metric)][f.window_start] = f.value
    headline = (
        "roc_auc"
        if ("estimate", "roc_auc") in series or ("performance", "roc_auc") in series
        else "rmse"
    )
    realized, estimated = series.get(("performance", headline)), series.get(("estimate", headline))
    if not realized and not estimated:
        return None
    fig = Canvas(figsize=(10, 3.6))
    ax = fig.subplots()
    if realized:
        times = sorted(realized)
        x = date2num(times)
        low = [series[("performance", f"{headline}.low")].get(t, np.nan) for t in times]
        high = [series[("performance", f"{headline}.high")].get(t, np.nan) for t in times]
        ax.fill_between(x, low, high, color=REALIZED_COLOR, alpha=0.2, label="95% interval")
        ax.plot(
            x,
            [realized[t] for t in times],
            "o-",
            color=REALIZED_COLOR,
            lw=2.5,
            label="realized",
        )
    if estimated:
        times = sorted(estimated)
        lows = series.get(("estimate", f"{headline}.low"), {})
        highs = series.get(("estimate", f"{headline}.high"), {})
        if lows and highs:  # references built before the estimate had a range have none
            ax.fill_between(
                date2num(times),
                [lows.get(t, np.nan) for t in times],
                [highs.get(t, np.nan) for t in times],
                color=ESTIMATED_COLOR,
                alpha=0.15,
                label="estimate's 95% range",
            )
        ax.plot(
            date2num(times),
            [estimated[t] for t in times],
            "s--",
            color=ESTIMATED_COLOR,
            lw=2.5,
            label="estimated (CBPE)",
        )
    ax.xaxis_date()
    ax.set(ylabel=headline, title=f"{headline} per window (by window start)")
    ax.grid(alpha=0.3)
    ax.legend(loc="best")
    fig.autofmt_xdate()
    return fig


def drift_heatmap(drift: Sequence[Finding], zone: ZoneInfo) -> Canvas | None:
    """Each feature's drift statistic per window (a cell each), ✕ where judged drifted."""
    statistic = {(f.feature, f.window_start): f.value for f in drift if f.metric in STATISTICS}
    if not statistic:
        return None
    flagged = {
        (f.feature, f.window_start) for f in drift if f.metric == "drifted" and f.value > 0.5
    }
    features = sorted({k[0] for k in statistic}, key=lambda x: str(x))
    windows = sorted({k[1] for k in statistic})
    grid = np.array([[statistic.get((f, w), np.nan) for w in windows] for f in features])
    fig = Canvas(figsize=(min(2 + 0.9 * len(windows), 11), 0.32 * len(features) + 1.6))
    ax = fig.subplots()
    image = ax.imshow(np.minimum(grid, 1.0), aspect="auto", cmap="Reds", vmin=0, vmax=1)
    ax.set_yticks(range(len(features)), [str(f) for f in features], fontsize=8)
    every = max(1, len(windows) // 24)  # a year of daily windows: a label every two weeks
    ax.set_xticks(
        range(0, len(windows), every),
        [f"{w.astimezone(zone):%Y-%m-%d}" for w in windows[::every]],
        rotation=45,
        ha="right",
        fontsize=8,
    )
    # One set of markers, not a text per cell: a year of windows flags hundreds of cells.
    cells = [
        (j, i)
        for i, feature in enumerate(features)
        for j, window in enumerate(windows)
        if (feature, window) in flagged
    ]
    if cells:
        x, y = zip(*cells, strict=True)
        limits = ax.get_xlim(), ax.get_ylim()
        ax.scatter(x, y, marker="x", s=14, linewidths=1, color="black")
        ax.set(xlim=limits[0], ylim=limits[1])  # the image's own extent, not scatter's margins
    fig.colorbar(image, ax=ax, label="drift statistic (capped at 1)")
    fig.tight_layout()
    return fig


def _multivariate(findings: Sequence[Finding]) -> str:
    auc = {
        f.window_start: f.value
        for f in findings
        if f.monitor == "multivariate" and f.metric == "domain_auc"
    }
    if not auc:
        return "<p class='muted'>Nothing to chart yet.</p>"
    times = sorted(auc)
    fig = Canvas(figsize=(10, 2.6))
    ax = fig.subplots()
    ax.plot(date2num(times), [auc[t] for t in times], "o-", color=CURRENT_COLOR, lw=2.5)
    ax.axhline(0.5, color="#999", lw=1, ls=":")
    ax.xaxis_date()
    ax.set(ylabel="domain AUC", ylim=(0.4, 1.02))
    ax.grid(alpha=0.3)
    fig.autofmt_xdate()
    drivers = sorted(
        (
            f
            for f in findings
            if f.monitor == "multivariate" and f.metric == "driver" and f.window_start == times[-1]
        ),
        key=lambda f: -f.value,
    )
    listed = ", ".join(f"{escape(str(f.feature))} ({f.value:.0%})" for f in drivers)
    return chart_html(fig) + (f"<p>Drivers in the newest window: {listed}.</p>" if listed else "")


def _segments(findings: Sequence[Finding], zone: ZoneInfo) -> str:
    parts = [f for f in findings if f.monitor == "segment"]
    if not parts:
        return ""
    last = max(f.window_start for f in parts)
    counts = {
        f.feature: f.value
        for f in parts
        if f.window_start == last and f.metric == "drifted_features"
    }
    drifted: dict[str, list[str]] = defaultdict(list)
    for f in parts:
        if f.window_start == last and f.metric == "drifted" and f.feature:
            segment, _, feature = f.feature.partition("/")
            drifted[segment].append(feature)
    rows = "".join(
        f"<tr><td>{escape(str(segment))}</td><td>{int(n)}</td>"
        f"<td>{escape(', '.join(drifted.get(str(segment), [])))}</td></tr>"
        for segment, n in sorted(counts.items(), key=lambda kv: -kv[1])
    )
    return (
        f"<h2>Drift per segment (window from {last.astimezone(zone):%Y-%m-%d})</h2>"
        "<table><tr><th>segment</th><th>drifted features</th><th>which</th></tr>"
        f"{rows}</table>"
    )


def _fairness(findings: Sequence[Finding], reference: Reference | None) -> str:
    fig = fairness_chart(findings, reference)
    if fig is None:
        return ""
    return (
        "<h2>Fairness over time</h2><p class='muted'>The largest gap in selection rate between "
        "groups of each sensitive attribute, per labelled window; dotted: on the held-out rows "
        "at registration.</p>" + chart_html(fig)
    )


def fairness_chart(findings: Sequence[Finding], reference: Reference | None) -> Canvas | None:
    """Each sensitive attribute's demographic parity difference per window, and dotted, its
    figure at registration (from `reference`)."""
    gaps: dict[str, dict[datetime, float]] = defaultdict(dict)
    for f in findings:
        if f.monitor == "fairness" and f.metric == "demographic_parity_difference" and f.feature:
            gaps[f.feature][f.window_start] = f.value
    if not gaps:
        return None
    fig = Canvas(figsize=(10, 2.8))
    ax = fig.subplots()
    registered = (reference.fairness if reference is not None else None) or {}
    for attribute, series in sorted(gaps.items()):
        times = sorted(series)
        (line,) = ax.plot(date2num(times), [series[t] for t in times], "o-", lw=2, label=attribute)
        if attribute in registered:
            ax.axhline(
                registered[attribute]["demographic_parity_difference"],
                color=line.get_color(),
                ls=":",
                label=f"{attribute} at registration",
            )
    ax.xaxis_date()
    ax.set(ylabel="demographic parity difference")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.autofmt_xdate()
    return fig


def _newest_drifted(drift: Sequence[Finding], top: int) -> list[str]:
    if not drift:
        return []
    last = max(f.window_start for f in drift)
    flagged = {
        f.feature
        for f in drift
        if f.window_start == last and f.metric == "drifted" and f.value > 0.5
    }
    ranked = sorted(
        (
            f
            for f in drift
            if f.window_start == last and f.metric in STATISTICS and f.feature in flagged
        ),
        key=lambda f: -f.value,
    )
    return [str(f.feature) for f in ranked[:top]]


def _distribution(feature: str, reference: Reference, current: pd.DataFrame) -> Canvas:
    column = reference.columns[feature]
    fig = Canvas(figsize=(4.4, 2.8))
    ax = fig.subplots()
    if column.kind == NUMERIC and column.sorted_values is not None:
        now = pd.to_numeric(current[feature], errors="coerce").to_numpy(dtype=float)
        now = now[np.isfinite(now)]
        both = np.concatenate([column.sorted_values, now])
        edges = np.histogram_bin_edges(both[np.isfinite(both)], bins=30)
        ax.hist(
            column.sorted_values,
            bins=edges.tolist(),
            density=True,
            alpha=0.5,
            color=REALIZED_COLOR,
            label="reference",
        )
        ax.hist(
            now,
            bins=edges.tolist(),
            density=True,
            histtype="step",
            lw=2,
            color=CURRENT_COLOR,
            label="newest window",
        )
    else:
        now_counts = current[feature].dropna().astype(str).value_counts()
        categories = list(dict.fromkeys([*list(column.counts)[:10], *now_counts.index[:10]]))[:12]
        ref_total, now_total = max(column.rows, 1), max(int(now_counts.sum()), 1)
        x = np.arange(len(categories))
        ax.bar(
            x - 0.2,
            [column.counts.get(c, 0) / ref_total for c in categories],
            0.4,
            color=REALIZED_COLOR,
            label="reference",
        )
        ax.bar(
            x + 0.2,
            [now_counts.get(c, 0) / now_total for c in categories],
            0.4,
            color=CURRENT_COLOR,
            label="newest window",
        )
        ax.set_xticks(x, categories, rotation=45, ha="right", fontsize=7)
    ax.set_title(feature, fontsize=10)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def chart_html(fig: Canvas | None) -> str:
    """`fig` as an inline SVG block of a page (a note when there is nothing to draw)."""
    if fig is None:
        return "<p class='muted'>Nothing to chart yet.</p>"
    svg = chart_svg(fig)
    return f"<div class='chart'>{svg[svg.index('<svg') :]}</div>"


def chart_svg(fig: Canvas) -> str:
    """`fig` as an SVG document, the same bytes for the same findings (no date in it)."""
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", metadata={"Date": None})
    return buffer.getvalue()
