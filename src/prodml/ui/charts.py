"""The console's charts as SVG documents, drawn on the server by matplotlib (no script, no
network): a page shows each as an image of its own URL, so the page itself stays light."""

from __future__ import annotations

from datetime import datetime, timedelta
from itertools import groupby
from typing import TYPE_CHECKING

from matplotlib.dates import date2num
from matplotlib.figure import Figure as Canvas
from matplotlib.lines import Line2D

from prodml.rollout.analysis import ADVANCE, PROMOTE, ROLLBACK, STARTS

if TYPE_CHECKING:
    from prodml.store import PolicyChange


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


# The figures each drawn check is judged by, "larger is worse": its estimate, the one-
# sided bound that fails the check once past the tolerated line, and that line.
_EVIDENCE = {
    "difference": ("difference", "low", "margin"),
    "total_variation": ("total_variation", "total_variation_low", "threshold"),
}
DECIDED = {
    ADVANCE: ("#2b6cb0", "advanced"),
    PROMOTE: ("#2f855a", "promoted"),
    ROLLBACK: ("#c53030", "rolled back"),
}


def rollout_checks(changes: list[PolicyChange]) -> Canvas | None:
    """Each check's evidence at every analysis of the deployment's rollouts, one panel
    per check: the estimate, the band down to the bound that must pass the dashed
    tolerated line for the check to fail, failures crossed; each rollout its own
    stretch, and each advance, promotion and rollback a vertical line (None: nothing
    judged yet)."""
    series: dict[str, list[tuple[int, datetime, float, float, float, bool]]] = {}
    marks, rollout = [], 0
    for change in sorted(changes, key=lambda c: c.revision):
        rollout += change.action in STARTS
        for name, found in (change.figures.get("checks") or {}).items():
            keys = next((k for key, k in _EVIDENCE.items() if key in found), None)
            if keys is not None and found.get(keys[2]) is not None:
                value, bound, line = (float(found[k]) for k in keys)
                failed = found.get("verdict") == "fail"
                series.setdefault(name, []).append((rollout, change.at, value, bound, line, failed))
        if change.action in DECIDED:
            marks.append(change)
    if not series:
        return None
    fig = Canvas(figsize=(10, 0.6 + 1.5 * len(series)))
    axes = fig.subplots(len(series), 1, sharex=True, squeeze=False)[:, 0]
    for ax, (name, points) in zip(axes, series.items(), strict=True):
        for _, stretch in groupby(points, key=lambda p: p[0]):
            rows = list(stretch)
            at = date2num([p[1] for p in rows])
            estimates, bounds, lines = ([p[i] for p in rows] for i in (2, 3, 4))
            ax.fill_between(at, bounds, estimates, step="post", color="#4a5568", alpha=0.18, lw=0)
            ax.step(at, estimates, where="post", color="#2d3748", lw=1.5)
            ax.step(at, lines, where="post", color="#c53030", ls="--", lw=1)
            crossed = [(t, p[3]) for t, p in zip(at, rows, strict=True) if p[5]]
            if crossed:
                times, lows = zip(*crossed, strict=True)
                ax.scatter(times, lows, marker="x", color="#c53030", s=40, zorder=3)
        for change in marks:
            ax.axvline(date2num(change.at), color=DECIDED[change.action][0], lw=1, alpha=0.7)
        ax.set_ylabel(name, rotation=0, ha="right", va="center")
        ax.grid(alpha=0.3)
    handles = [Line2D([], [], color=c, lw=1) for c, _ in DECIDED.values()]
    axes[0].legend(
        handles,
        [label for _, label in DECIDED.values()],
        loc="lower left",
        bbox_to_anchor=(0, 1.02),
        ncol=3,
        fontsize=8,
        frameon=False,
    )
    axes[-1].xaxis_date()
    fig.autofmt_xdate()
    fig.tight_layout()
    return fig
