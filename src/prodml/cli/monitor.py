"""`prodml monitor`: judge a model's traffic window by window, take in labels, show alerts,
write the report."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated
from zoneinfo import ZoneInfo

import typer
from rich.table import Table

from prodml.cli._auth import authorize
from prodml.cli._common import ProjectDir, err, open_workspace, out
from prodml.govern.roles import LABEL, OPERATE

if TYPE_CHECKING:
    from prodml.monitor.run import WindowResult

monitor_app = typer.Typer(
    help="Monitoring: drift, performance (realized and estimated), concept drift, alerts.",
    no_args_is_help=True,
)
Model = Annotated[str, typer.Argument(help="The model whose prediction log to judge.")]


@monitor_app.command()
def run(
    name: Model,
    freq: Annotated[
        str | None,
        typer.Option(
            help="Window length, a pandas offset: D (days), W-MON (weeks), MS (months). "
            "Default: monitoring.freq."
        ),
    ] = None,
    rows: Annotated[
        int | None,
        typer.Option(min=100, help="Windows of this many predictions instead of by time."),
    ] = None,
    project: ProjectDir = Path("."),
) -> None:
    """Judge what is due in NAME's traffic, record findings, and raise or resolve alerts.

    Each complete window is compared with the reference of the version that answered it
    (built at registration): per feature and for the prediction, Wasserstein or
    Jensen–Shannon distance (KS or chi-square on small references), drifted only when past
    both its effect floor and what chance alone gives at the window's size; a rare
    category whose share moved by a large factor, and the share of missing values, count
    too. A window under monitoring.min_rows is reported too small, not judged. Data
    quality: rows refused before scoring (422s, batch rejects) by reason, missing values,
    and values beyond what training saw (a category it never held) count, refused or not.
    Classifiers also get a label-free estimate of ROC AUC, accuracy and F1.
    Windows whose labels arrived since the last run get realized metrics with 95 %
    intervals, and the labelled traffic is checked for a rise in errors (concept drift).
    Run it on a schedule: it picks up where the last run stopped.

    [dim]e.g. prodml monitor run churn --freq D[/dim]
    """
    ws = open_workspace(project)
    authorize(ws, OPERATE, model=name)
    result, events = ws.monitor(name, freq=freq, rows=rows)
    if not result.windows and not result.concept and not result.skipped:
        out.print(f"Nothing new to judge for {name}.")
    if result.windows:
        table = Table(title=f"{name}: windows judged", title_justify="left")
        columns = ("window", "version", "rows", "refused", "labelled", "drifted", "AUC est.", "AUC")
        for column in columns:
            table.add_column(column)
        for w in result.windows:
            auc = w.realized.get("roc_auc")
            table.add_row(
                f"{w.start:%Y-%m-%d %H:%M} – {w.end:%Y-%m-%d %H:%M}",
                w.version,
                f"{w.rows:,}",
                _refused(w),
                f"{w.labelled:,}",
                _drifted(w),
                (
                    f"{w.estimated['roc_auc']:.3f}"
                    + (
                        f" ({w.estimated['roc_auc.low']:.3f}–{w.estimated['roc_auc.high']:.3f})"
                        if "roc_auc.low" in w.estimated
                        else ""
                    )
                    if "roc_auc" in w.estimated
                    else ""
                ),
                f"{auc.value:.3f} [{auc.low:.3f}, {auc.high:.3f}]" if auc else "",
            )
        out.print(table)
    for shift in result.concept:
        out.print(
            f"[yellow]Concept drift[/yellow] in version {shift.version}: errors rose from "
            f"{shift.before:.3f} to {shift.after:.3f}, starting in the window from "
            f"{shift.start:%Y-%m-%d %H:%M} (detected {shift.detected_at:%Y-%m-%d %H:%M})."
        )
    for event in events:
        colour = "green" if event.event == "resolved" else "red"
        out.print(
            f"[{colour}]Alert {event.event}[/{colour}]: {event.alert.rule} "
            f"({event.alert.subject or 'model'}) = {event.alert.value:.4g}"
            + ("" if event.delivered else " [red](not delivered everywhere)[/red]")
        )
    for version, why in result.skipped.items():
        err.print(f"[red]Version {version} was not judged:[/red] {why}")
    if result.skipped:
        raise typer.Exit(1)


@monitor_app.command()
def labels(
    name: Model,
    path: Annotated[Path, typer.Argument(help="A CSV or Parquet file of outcomes.")],
    label: Annotated[str, typer.Option(help="The column holding the truth.")] = "label",
    on: Annotated[
        str | None,
        typer.Option(
            help="Comma-separated columns to match the logged inputs on (entity keys and an "
            "event time). Default: the file's request_id (and row) columns."
        ),
    ] = None,
    project: ProjectDir = Path("."),
) -> None:
    """Load ground truth for NAME's logged predictions, whenever it arrives.

    By request id: the file has `request_id` (and `row`, for multi-row requests) and the
    label. By entity: `--on carrier,flight,scheduled_departure` matches the columns to the
    logged inputs, and every prediction of that event gets the label. A later label for
    the same prediction replaces the earlier one.

    [dim]e.g. prodml monitor labels churn outcomes.parquet --label churned[/dim]
    """
    import pandas as pd

    from prodml.monitor.labels import match_labels
    from prodml.monitor.traffic import traffic_frame

    ws = open_workspace(project)
    authorize(ws, LABEL, model=name)
    if not path.exists():
        err.print(f"[red]No file at {path}.[/red]")
        raise typer.Exit(1)
    frame = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)
    keys = [c.strip() for c in on.split(",")] if on else []
    records = ws.prediction_log(name).read()
    traffic = traffic_frame(records) if keys else pd.DataFrame()
    matched = match_labels(
        frame,
        traffic,
        label=label,
        on=keys,
        source=str(path),
        classifier="probability" in records.columns,  # the log says what the model answers
    )
    written = ws.metadata.add_labels(name, matched.labels, received_at=ws.clock.now())
    out.print(f"Recorded {written:,} label(s) for {name} from {path}.")
    if matched.unmatched:
        out.print(
            f"[yellow]{matched.unmatched:,} row(s) matched no logged prediction[/yellow] "
            f"on {', '.join(keys)}; check the columns and that those rows were scored."
        )


@monitor_app.command()
def alerts(
    name: Annotated[str | None, typer.Argument(help="Only this model's alerts.")] = None,
    all_: Annotated[bool, typer.Option("--all", help="Resolved alerts too.")] = False,
    project: ProjectDir = Path("."),
) -> None:
    """Alerts raised by `prodml monitor run`: firing ones, or every one with --all."""
    ws = open_workspace(project)
    found = ws.metadata.list_alerts(model_name=name, status=None if all_ else "firing")
    zone = ZoneInfo(ws.settings.monitoring.timezone)  # windows' own calendar
    if not found:
        out.print("No alerts firing." if not all_ else "No alerts.")
        return
    table = Table(title=f"alerts of {name}" if name else "alerts", title_justify="left")
    columns = ("status", *(() if name else ("model",)), "rule", "subject", "value", "windows")
    for column in (*columns, "since window ending", "drivers"):
        table.add_column(column, overflow="fold")
    for a in found:
        table.add_row(
            f"[red]{a.status}[/red]" if a.status == "firing" else a.status,
            *(() if name else (a.model_name,)),
            a.rule,
            a.subject or "(model)",
            f"{a.value:.4g}",
            str(a.detail.get("breaching", "")),
            f"{a.first_window_end.astimezone(zone):%Y-%m-%d %H:%M}",
            ", ".join(a.detail.get("drivers", [])[:3]),
        )
    out.print(table)


@monitor_app.command("compare")
def compare_windows(
    name: Model,
    baseline: Annotated[
        str, typer.Option(help="The reference window, START/END in ISO times (UTC unless given).")
    ],
    window: Annotated[str, typer.Option(help="The window to judge, START/END.")],
    log: Annotated[
        str | None, typer.Option(help="The prediction log's deployment name. Default: NAME.")
    ] = None,
    project: ProjectDir = Path("."),
) -> None:
    """Drift of one window of NAME's traffic against another chosen as the reference.

    For questions the registered reference does not answer ("is this week unlike last
    week?"). The same tests as `prodml monitor run`; nothing is recorded.

    [dim]e.g. prodml monitor compare churn --baseline 2013-07-01/2013-07-08
    --window 2013-07-08/2013-07-15[/dim]
    """
    ws = open_workspace(project)
    drift = ws.compare_windows(
        name, _span(baseline, "--baseline"), _span(window, "--window"), log=log
    )
    table = Table(title=f"{name}: {window} against {baseline}", title_justify="left")
    for column in ("feature", "method", "statistic", "threshold", "drifted"):
        table.add_column(column)
    for d in sorted(drift, key=lambda d: -d.statistic / d.threshold):
        flag = "[red]yes[/red]" if d.drifted else "no"
        table.add_row(d.feature, d.method, f"{d.statistic:.4g}", f"{d.threshold:g}", flag)
    out.print(table)


def _span(text: str, option: str) -> tuple[datetime, datetime]:
    start, sep, end = text.partition("/")
    try:
        if not sep:
            raise ValueError("no '/'")
        return tuple(  # type: ignore[return-value]
            t if t.tzinfo else t.replace(tzinfo=UTC)
            for t in (datetime.fromisoformat(start), datetime.fromisoformat(end))
        )
    except ValueError as exc:
        raise typer.BadParameter(
            f"{text!r} is not START/END in ISO times, e.g. 2013-07-01/2013-07-08 ({exc}).",
            param_hint=option,
        ) from exc


@monitor_app.command()
def report(
    name: Model,
    output: Annotated[Path, typer.Option("--output", "-o", help="The HTML file to write.")] = Path(
        "monitoring-report.html"
    ),
    log: Annotated[
        str | None, typer.Option(help="The prediction log's deployment name. Default: NAME.")
    ] = None,
    project: ProjectDir = Path("."),
) -> None:
    """Write one self-contained HTML report of NAME's monitoring (opens offline).

    Performance over time (realized with its 95 % interval, and the label-free estimate),
    drift per feature per window, the reference against the newest window for the most
    drifted features, and the alerts with the features that drove them.

    [dim]e.g. prodml monitor report churn -o report.html[/dim]
    """
    ws = open_workspace(project)
    written = ws.monitoring_report(name, output, log=log)
    out.print(f"Wrote {written} ({written.stat().st_size / 1e6:.1f} MB).")


@monitor_app.command()
def exporter(
    name: Annotated[str | None, typer.Argument(help="Only this model's gauges.")] = None,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port of /metrics.")] = 9108,
    project: ProjectDir = Path("."),
) -> None:
    """Serve monitoring's Prometheus gauges on their own /metrics, until stopped.

    `prodml serve` exports the same gauges beside its request metrics; this is for a
    Prometheus where no prediction server runs (batch-only models). Series:
    prodml_drift_score, prodml_drift_detected, prodml_performance{kind="realized"|"estimated"},
    prodml_labelled_predictions, prodml_monitor_window_end_seconds,
    prodml_multivariate_drift, prodml_segment_drifted_features, prodml_fairness_gap,
    prodml_alert_firing.

    [dim]e.g. prodml monitor exporter churn --port 9108[/dim]
    """
    import time

    from prodml.monitor.gauges import serve_gauges

    ws = open_workspace(project)
    server, _ = serve_gauges(ws.metadata, name, host=host, port=port)
    out.print(f"Gauges of {name or 'every model'} at http://{host}:{port}/metrics (Ctrl+C stops).")
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        server.shutdown()


def _drifted(window: WindowResult) -> str:
    """The drifted features of a window, each with the rule that decided when it was not
    the plain effect size (a rare category, the share of missing values)."""
    from prodml.monitor.compare import EFFECT

    if window.too_small:
        return "too small to judge"
    named = [
        d.feature if d.rule == EFFECT else f"{d.feature} ({d.rule.replace('_', ' ')})"
        for d in window.drift
        if d.drifted
    ]
    return ", ".join(named) or ("none" if window.drift else "")


def _refused(window: WindowResult) -> str:
    """The share of the window's rows refused before scoring, and the commonest reason."""
    quality = window.quality
    if quality is None or not quality.rejected:
        return ""
    reason = next(iter(quality.reasons))
    return f"{quality.rejected_share:.1%} ({reason})"
