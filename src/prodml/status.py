"""`prodml status`: what a workspace holds (snapshots, runs, models, logs) and where.

Looking never creates anything: an embedded store that does not exist yet is reported
as empty instead of being created.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from prodml.train.tracking import recent_runs
from prodml.workspace import Workspace

RECENT_RUNS = 12


def collect_status(ws: Workspace) -> dict[str, Any]:
    s = ws.settings
    state: dict[str, Any] = {
        "locations": {
            "state folder": str(s.state_dir),
            "metadata": s.metadata_url,
            "artifacts": s.artifacts_url,
            "MLflow tracking": s.tracking_uri,
            "prediction logs": str(s.state_dir / "predictions"),
        },
        "snapshots": [],
        "runs": [],
        "models": [],
        "prediction_logs": {},
    }
    if not _missing_sqlite(ws.settings.metadata_url):
        state["locations"]["metadata schema"] = ws.metadata.schema_revision
        state["snapshots"] = [
            {
                "id": snap.id[:12],
                "source": snap.source,
                "rows": snap.num_rows,
                "quarantined": snap.quarantined_rows,
                "created": snap.created_at,
            }
            for snap in ws.metadata.list_snapshots()
        ]
    if not _missing_sqlite(ws.tracking_uri):
        runs = recent_runs(ws.tracking_uri, RECENT_RUNS)
        state["runs"] = [
            {
                "run_id": run.info.run_id[:12],
                "name": run.info.run_name,
                "status": run.info.status,
                "roc_auc": run.data.metrics.get("roc_auc"),
                "started": datetime.fromtimestamp(run.info.start_time / 1000, UTC),
            }
            for run in runs
        ]
        state["models"] = [
            {"name": v.name, "version": v.version, "aliases": list(v.aliases), "run_id": v.run_id}
            for v in ws.registry.list_versions()
        ]
    logs = s.state_dir / "predictions"
    if logs.exists():
        state["prediction_logs"] = {
            d.name: ws.prediction_log(d.name).count() for d in sorted(logs.iterdir()) if d.is_dir()
        }
    return state


def render_status(console: Console, state: dict[str, Any]) -> None:
    where = Table(title="Where everything lives", show_header=False, title_justify="left")
    where.add_column("what", no_wrap=True)
    where.add_column("where", overflow="fold")
    for name, value in state["locations"].items():
        where.add_row(name, str(value))
    console.print(where)
    _table(console, "Snapshots", state["snapshots"], "none yet: run `prodml demo`")
    _table(console, f"Latest runs (MLflow, up to {RECENT_RUNS})", state["runs"], "none yet")
    _table(console, "Registered model versions", state["models"], "none yet")
    logs = [{"deployment": k, "predictions": v} for k, v in state["prediction_logs"].items()]
    _table(console, "Prediction logs", logs, "none yet")


def _table(console: Console, title: str, rows: list[dict[str, Any]], empty: str) -> None:
    if not rows:
        console.print(f"[bold]{title}[/bold]: {empty}")
        return
    table = Table(title=title, title_justify="left")
    for column in rows[0]:
        table.add_column(column)
    for row in rows:
        table.add_row(*(_cell(v) for v in row.values()))
    console.print(table)


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4f}"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, list):
        return ", ".join(map(str, value))
    return "" if value is None else str(value)


def _missing_sqlite(url: str | None) -> bool:
    try:
        parsed = make_url(url or "")
    except ArgumentError:
        return False  # not a database URL: the store that reads it explains what is wrong
    return parsed.get_backend_name() == "sqlite" and not Path(parsed.database or "").exists()
