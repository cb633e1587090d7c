"""The demo's closing summary: figures and the places it wrote them."""

from __future__ import annotations

from collections import defaultdict

import pandas as pd
from rich.console import Console
from rich.table import Table

from prodml.demo.flights import TIMEZONE
from prodml.demo.replay import ARMS, ReplayReport
from prodml.demo.replay_page import LABELS
from prodml.demo.rollout import Rollout
from prodml.demo.run import DemoReport
from prodml.monitor.notify import describe
from prodml.store import Alert, Decision
from prodml.train.flavors import BASELINES, CLASSIFICATION
from prodml.workspace import Workspace

_SUBJECTS_SHOWN = 6  # of one rule's alerts, the other subjects named beside the strongest


def render_report(console: Console, report: DemoReport, ws: Workspace, seconds: float) -> None:
    data = Table(title="Data", title_justify="left", show_header=False)
    for name, rows in report.rows.items():
        data.add_row(name, f"{rows:,}")
    for name, sid in report.snapshots.items():
        data.add_row(f"{name} snapshot", sid[:16])
    console.print(data)

    models = Table(title="Models (validation: June 2013)", title_justify="left")
    for column in ("model", "ROC AUC", "vs best baseline", "PR AUC", "log loss", "Brier", "run id"):
        models.add_column(column)
    baseline = max(report.models[b]["roc_auc"] for b in BASELINES[CLASSIFICATION])
    for name, m in report.models.items():
        mark = " ★" if name == report.champion else ""
        models.add_row(
            name + mark,
            f"{m['roc_auc']:.4f}",
            "baseline" if name in BASELINES[CLASSIFICATION] else f"{m['roc_auc'] - baseline:+.4f}",
            f"{m['pr_auc']:.4f}",
            f"{m['log_loss']:.4f}",
            f"{m['brier']:.4f}",
            report.run_ids[name],
        )
    console.print(models)
    t = report.training
    cost = t["best_threshold"]
    slices = [s for s in t["slices"] if not s["skipped"]]
    worst = min(slices, key=lambda s: s["estimate"]) if slices else None
    console.print(
        f"[bold]Training pipeline[/bold]: {t['reused']} of {t['steps']} steps reused from cache; "
        f"gate {'[green]passed[/green]' if t['gate_passed'] else '[red]failed[/red]'} (better "
        f"than both baselines, non-inferior to any champion). With a missed delay costing 5× a "
        f"false alarm, the best threshold is {cost['threshold']:.3f}."
        + (
            f" Weakest slice: {worst['column']} {worst['value']}, AUC {worst['estimate']:.3f} "
            f"[{worst['low']:.3f}, {worst['high']:.3f}] on {worst['rows']:,} flights."
            if worst
            else ""
        )
    )

    f = report.features
    verdict = "[green]passed[/green]" if f["parity_ok"] else "[red]FAILED[/red]"
    console.print(
        f"[bold]Feature store[/bold]: service {f['service']} (version {f['version']}); the API "
        f"asks only for {', '.join(f['request_fields'])} and looks up the rest online. "
        f"Training/serving parity at {f['parity_at'][:16]} UTC {verdict} "
        f"({f['parity_checked']:,} entities, {f['parity_mismatches']} mismatches). Check it "
        f"yourself: [cyan]prodml features check-parity {f['service']} --at "
        f"{f['parity_at'][:16]}[/cyan]"
    )

    api = report.api
    console.print(
        f"[bold]HTTP API[/bold]: {api['requests']:.0f} July requests, latency p50 "
        f"{api['p50_ms']:.2f} ms, p99 {api['p99_ms']:.2f} ms (client-side, one row each); "
        f"{api['logged']:.0f} predictions logged durably; a malformed request got "
        f"HTTP {api['bad_request_status']:.0f}. Each answer carries a conformal prediction "
        f"set at {api['coverage']:.0%} coverage."
    )
    stream = report.stream
    if stream["skipped"]:
        console.print(
            f"[bold]Streaming[/bold]: skipped, no broker at {stream['url']} ({stream['skipped']}). "
            "Start NATS with JetStream (nats-server -js) to stream every fifth request."
        )
    else:
        console.print(
            f"[bold]Streaming[/bold]: every fifth July request went through {stream['url']} "
            f"instead: {stream['answered']:,} answered from "
            f"[cyan]{stream['subjects'].requests}[/cyan] to "
            f"[cyan]{stream['subjects'].predictions}[/cyan], "
            f"{stream['dead_lettered']} dead-lettered."
        )
    if report.rollouts:
        console.print(_rollouts_table(report.rollouts))
        sent = sum(r.requests for r in report.rollouts)
        errors = sum(r.errors for r in report.rollouts)
        fed = sum(r.labels for r in report.rollouts)
        console.print(
            f"[bold]Rollouts[/bold]: {sent:,} replayed callers of deployment [cyan]flights"
            f"[/cyan], {errors} of them answered with an error; {fed:,} outcomes fed back "
            "three hours after each departure. Every decision and its figures: "
            "[cyan]prodml deploy history flights[/cyan]."
        )
    batch = report.batch
    console.print(
        f"[bold]Batch[/bold]: {batch['scored']:,} flights scored through [cyan]prodml score"
        f"[/cyan]'s code path, one batch per month as it began, {batch['rejected']:,} "
        f"rejected with reasons; all logged."
    )

    monthly = Table(title="Monitoring the champion (★), per month of 2013", title_justify="left")
    columns = (
        "month",
        "flights",
        "AUC estimated (range)",
        "AUC realized [95% CI]",
        "drifted",
        "most drifted",
    )
    for column in columns:
        monthly.add_column(column)
    for row in report.monthly:
        drift = row["drift"]
        drifted = sum(d.drifted for d in drift)
        top = ", ".join(f"{d.feature} {d.statistic:.2f}" for d in drift[:3] if d.drifted)
        monthly.add_row(
            row["month"],
            f"{row['rows']:,}",
            f"{row['estimated_auc']:.4f} ({row['estimated_low']:.2f}–{row['estimated_high']:.2f})",
            f"{row['auc']:.4f} [{row['auc_low']:.3f}, {row['auc_high']:.3f}]",
            f"{drifted}/{len(drift)}",
            top,
        )
    console.print(monthly)
    for shift in report.concept:
        console.print(
            f"[yellow]Concept drift[/yellow]: the error beyond what the probabilities expect "
            f"rose from {shift['before']:+.3f} to {shift['after']:+.3f}, beginning in "
            f"{shift['month']}."
        )
    console.print(_alerts_table(report.alerts))
    console.print(
        "[dim]Numeric features: Wasserstein distance in training standard deviations; "
        "categorical ones (and numbers of ≤ 5 values): Jensen–Shannon distance; drifted when "
        "past 0.05 and past what chance gives at the month's size. Training saw "
        "January–May: summer weather drifts, and the AUC shows what it costs; the month is "
        "not an input, so no feature drifts by construction. The estimate (CBPE) comes from "
        "the scores alone, before any outcome is known, and cannot see the summer's changed "
        "link between weather and delays; the realized AUC can, and is held to the interval "
        "measured on held-out June flights at registration (performance-drop). Each rule's "
        "row names its strongest alert; every notice is in the alert notices file. The "
        "charts are in the monitoring report (below).[/dim]"
    )
    if report.retrain:
        console.print(
            _decisions_table(
                "Continuous training: the controller's pass a week after December's outcomes",
                report.retrain,
            )
        )
        console.print(
            "[dim]No one asked for it: the alerts and the new outcomes triggered it, and "
            "its gate held the retrained version to the champion on December's flights; a "
            "version that passes waits as a canary for deployment flights' traffic. Every "
            "decision: [cyan]prodml ct history flights-delay[/cyan]; a whole year of it: "
            "[cyan]prodml demo --replay[/cyan].[/dim]"
        )

    _governance(console, report)

    where = Table(title="Where it wrote everything", title_justify="left", show_header=False)
    where.add_column("what", no_wrap=True)
    where.add_column("where", overflow="fold")  # a path is useless cut short
    where.add_row("MLflow tracking URI", ws.tracking_uri)
    where.add_row("registered model", f"flights-delay version {report.champion_version} @champion")
    where.add_row("metadata", str(ws.settings.metadata_url))
    for name, path in report.paths.items():
        where.add_row(name, path)
    console.print(where)
    console.print(
        f"Done in {seconds:.0f} s. Browse runs with: "
        f"[cyan]mlflow ui --backend-store-uri {ws.tracking_uri}[/cyan]"
    )
    console.print(
        "See the whole story (data, training, rollouts, monitoring, retrains, audit) in the "
        f"console: [cyan]prodml ui -C {ws.project_dir}[/cyan], then open "
        "[cyan]http://127.0.0.1:8765[/cyan]"
    )


def _governance(console: Console, report: DemoReport) -> None:
    """Who did what: the tokens, the refusals, and the audit log's verdict and events."""
    audit, api = report.audit, report.api
    console.print(
        f"[bold]Governance[/bold]: {audit.get('tokens', 0)} tokens issued, one per role; each "
        "step acted as its role (data engineer, data scientist, operator), every request "
        f"carried the client's token. Without one: {api.get('no_token_status')}; a client "
        f"posting labels: {api.get('client_labels_status')}."
    )
    style = "green" if audit.get("ok") else "red"
    console.print(f"[bold]prodml audit verify[/bold]: [{style}]{audit.get('verdict')}[/{style}]")
    events = Table(title="Audit events by kind", title_justify="left")
    events.add_column("action")
    events.add_column("events", justify="right")
    for action, count in audit.get("events", {}).items():
        events.add_row(action, f"{count:,}")
    console.print(events)


def _rollouts_table(rollouts: list[Rollout]) -> Table:
    """Each canary's decisions, in replayed time."""
    table = Table(
        title="Canaries of deployment flights over July 15 on (steps 10% → 50% → 100%)",
        title_justify="left",
    )
    for column in ("candidate", "replayed time", "decision", "why"):
        table.add_column(column, overflow="fold")
    colours = {"promote": "green", "advance": "green", "rollback": "red"}
    for rollout in rollouts:
        first = True
        for decision in rollout.decisions:
            colour = colours.get(decision["action"], "dim")
            table.add_row(
                f"v{rollout.candidate}: {rollout.what}" if first else "",
                f"{decision['at']:%b %d %H:%M}",
                f"[{colour}]{decision['action']}[/{colour}]",
                decision["reason"],
            )
            first = False
    return table


def _alerts_table(raised: list[Alert]) -> Table:
    """One row per rule: the strongest alert's sentence, and the other subjects (features)
    the same rule fired on. Twenty drifted weather features are one thing to look at."""
    firing = [a for a in raised if a.status == "firing"]
    table = Table(
        title=f"Alerts: {len(raised)} raised, {len(firing)} still firing "
        "(every notice in the alert notices file; prodml monitor alerts --all)",
        title_justify="left",
    )
    for column in ("rule", "alerts", "what happened (the strongest)", "also on"):
        table.add_column(column, overflow="fold")
    by_rule: dict[str, list[Alert]] = defaultdict(list)
    for alert in raised:
        by_rule[alert.rule].append(alert)
    for rule, alerts in sorted(by_rule.items(), key=lambda kv: -len(kv[1])):
        # A drift alert's value is its 0/1 flag: the statistic that decided says more.
        alerts.sort(key=lambda a: (a.status != "firing", -a.detail.get("statistic", a.value)))
        others = list(dict.fromkeys(a.subject or "model" for a in alerts[1:]))
        also = ", ".join(others[:_SUBJECTS_SHOWN])
        if len(others) > _SUBJECTS_SHOWN:
            also += f" and {len(others) - _SUBJECTS_SHOWN} more"
        still = sum(a.status == "firing" for a in alerts)
        table.add_row(rule, f"{len(alerts)} ({still} firing)", describe(alerts[0]), also)
    return table


def _decisions_table(title: str, decisions: list[Decision]) -> Table:
    table = Table(title=title, title_justify="left")
    for column in ("at (New York)", "decision", "version", "why"):
        table.add_column(column, overflow="fold")
    for d in decisions:
        when = pd.Timestamp(d.at).tz_convert(TIMEZONE)
        table.add_row(f"{when:%b %d %H:%M}", d.kind, d.version or "", d.reason)
    return table


def render_replay(console: Console, report: ReplayReport, paths: dict[str, str]) -> None:
    """The replayed year: each arm's AUC per month, the loop's decisions, the targets."""
    months = Table(title="The replayed year: realized ROC AUC per month", title_justify="left")
    for column in ("month", "flights", *(LABELS[a] for a in ARMS), "retrains (b)"):
        months.add_column(column)
    for m in report.months:
        months.add_row(
            f"{m.start:%b}",
            f"{m.rows:,}",
            *(f"{m.auc[a]:.4f}" for a in ARMS),
            str(m.trained["loop"]),
        )
    months.add_row(
        "mean",
        "",
        *(f"{report.mean_auc(a):.4f}" for a in ARMS),
        f"{report.trained('loop')} (oracle: {report.trained('oracle')})",
    )
    console.print(months)
    console.print(_decisions_table("The loop's decisions", report.decisions))
    f = report.figures()
    below = ", ".join(f["months_loop_below_frozen_after_first_retrain"]) or "none"
    console.print(
        f"[bold]Targets[/bold]: the loop's mean AUC is {f['loop_mean_auc']:.4f} against the "
        f"oracle's {f['oracle_mean_auc']:.4f} ({f['loop_minus_oracle_auc']:+.4f}; the oracle "
        f"on the loop's budget: {f['bimonthly_minus_oracle_auc']:+.4f}) with "
        f"{f['loop_retrains']} retrains to its {f['oracle_retrains']}; months below the "
        f"frozen model after the first promotion: {below}; {f['failed_requests']} of "
        f"{f['requests']:,} requests failed; {f['gain_vs_oracle_ratio']} of the oracle's "
        f"gain over the frozen model; {f['seconds']:.0f} s. The loop ended on version "
        f"{report.final_champion}; the demo's own model is champion again, for the next run."
    )
    for name, path in paths.items():
        console.print(f"{name}: [cyan]{path}[/cyan]")
    console.print(
        "Every decision with its figures: [cyan]prodml ct history flights-delay[/cyan]; "
        "the audit trail: [cyan]prodml audit log[/cyan]."
    )
