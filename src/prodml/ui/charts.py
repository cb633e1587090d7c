"""The console's charts as SVG documents, drawn on the server by matplotlib (no script, no
network): a page shows each as an image of its own URL, so the page itself stays light."""

from __future__ import annotations

from datetime import datetime, timedelta

from matplotlib.dates import date2num
from matplotlib.figure import Figure as Canvas


def traffic_shares(series: dict[str, list[tuple[datetime, float]]], now: datetime) -> Canvas:
    """Each version's share of the deployment's traffic over time, as steps from each
    policy change to the next (and the last on to `now`, or a tenth of the history past
    it when `now` is further: a replayed history would else shrink to a sliver)."""
    fig = Canvas(figsize=(10, 2.6))
    ax = fig.subplots()
    changes = [t for points in series.values() for t, _ in points]
    first, last = min(changes, default=now), max(changes, default=now)
    until = max(last, min(now, last + max((last - first) / 10, timedelta(days=1))))
    for version, points in sorted(series.items(), key=lambda kv: int(kv[0])):
        times = [t for t, _ in points] + [until]
        values = [v for _, v in points] + [points[-1][1]]
        ax.step(date2num(times), values, where="post", lw=2.5, label=f"version {version}")
    ax.xaxis_date()
    ax.set(ylabel="share of traffic", ylim=(-0.03, 1.03))
    ax.yaxis.set_major_formatter("{x:.0%}")
    ax.grid(alpha=0.3)
    ax.legend(loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=8)
    fig.autofmt_xdate()
    fig.tight_layout()
    return fig
