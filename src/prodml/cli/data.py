"""`prodml data ...`: infer a contract, validate, ingest, and look at snapshots."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from prodml.cli._auth import authorize
from prodml.cli._common import ProjectDir, err, open_workspace, out
from prodml.data.contract import Contract
from prodml.data.sources import Source, open_source
from prodml.errors import BatchRejected, ConfigError, DataValidationError
from prodml.govern.roles import INGEST

if TYPE_CHECKING:  # the heavy parts are imported by the commands that use them
    from prodml.data.validate import ValidationReport

data_app = typer.Typer(
    help="Data pipelines: infer contracts, validate and ingest sources, inspect snapshots.",
    no_args_is_help=True,
)

SourceArg = Annotated[
    str,
    typer.Argument(help="A CSV/Parquet file, folder or glob (any fsspec URL), or a database URL."),
]
Query = Annotated[
    str | None, typer.Option("--query", "-q", help="SQL to run when SOURCE is a database URL.")
]
Format = Annotated[
    str | None, typer.Option("--format", help="csv or parquet, when the file name does not say.")
]
ContractOpt = Annotated[
    Path, typer.Option("--contract", "-c", help="The contract YAML to check against.")
]
Json = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]
NullValue = Annotated[
    list[str] | None,
    typer.Option(
        "--null-value", help="CSV text read as missing, besides the empty cell (e.g. NA)."
    ),
]


@data_app.command()
def infer(
    source: SourceArg,
    name: Annotated[str, typer.Option("--name", "-n", help="The contract's name (e.g. orders).")],
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Default: NAME.contract.yaml.")
    ] = None,
    query: Query = None,
    file_format: Format = None,
    null_value: NullValue = None,
    max_rows: Annotated[int, typer.Option(min=1, help="Rows to learn from.")] = 1_000_000,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing contract.")] = False,
) -> None:
    """Draft a contract from data, to review, edit and commit.

    [dim]e.g. prodml data infer exports/orders.csv --name orders[/dim]
    """
    from prodml.data.infer import infer_contract

    path = output or Path(f"{name}.contract.yaml")
    if path.exists() and not force:
        raise ConfigError(f"{path} already exists; pass --force to overwrite it.")
    with err.status(f"Reading up to {max_rows:,} rows of {source}…"):
        src = _source(source, query, file_format, null_value)
        contract = infer_contract(src, name, max_rows=max_rows)
    rows = (contract.reference or {}).get("num_rows", 0)
    contract.save(path, header=_header(source, rows, contract))
    out.print(_contract_table(contract))
    out.print(
        f"Wrote [cyan]{path}[/cyan] (version {contract.version}). Review it: ranges have a "
        "margin, categories and PII tags are guesses."
    )


@data_app.command()
def validate(
    source: SourceArg,
    contract: ContractOpt,
    query: Query = None,
    file_format: Format = None,
    null_value: NullValue = None,
    as_json: Json = False,
    project: ProjectDir = Path("."),
) -> None:
    """Check a source against its contract without writing anything (a dry run).

    [dim]e.g. prodml data validate exports/orders.csv -c orders.contract.yaml[/dim]
    """
    from prodml.data.ingest import validate_source

    ws, rules, src = _open(project, contract, source, query, file_format, null_value)
    with _progress(f"Validating {src.name}") as advance:
        report = validate_source(src, rules, clock=ws.clock, on_rows=advance)
    _show_report(report, as_json)
    if report.batch_rejected:
        raise DataValidationError(f"{src.name}: ingesting it would reject the whole batch.")


@data_app.command()
def ingest(
    source: SourceArg,
    contract: ContractOpt,
    query: Query = None,
    file_format: Format = None,
    null_value: NullValue = None,
    parent: Annotated[
        list[str] | None, typer.Option(help="Snapshot this one derives from (repeatable).")
    ] = None,
    as_json: Json = False,
    project: ProjectDir = Path("."),
) -> None:
    """Validate a source and keep its good rows as a snapshot, its bad rows in quarantine.

    [dim]e.g. prodml data ingest exports/orders.csv -c orders.contract.yaml[/dim]
    """
    ws, rules, src = _open(project, contract, source, query, file_format, null_value, INGEST)
    try:
        with _progress(f"Ingesting {src.name}") as advance:
            result = ws.ingest(src, rules, parents=parent or (), on_rows=advance)
    except BatchRejected as rejected:
        _show_report(rejected.report, as_json)  # what failed, before the one-line error
        raise
    snap = result.snapshot
    if as_json:
        body = {
            "snapshot": snap.id,
            "created": result.created,
            "quarantine": result.quarantine_uri,
            "report": result.report.to_dict() if result.report else None,
        }
        out.print_json(json.dumps(body, default=str))
        return
    if result.report is None:
        out.print(
            f"Unchanged: this input was already ingested as snapshot [bold]{snap.id[:12]}[/bold]; "
            "nothing was read or written."
        )
        return
    _show_report(result.report, as_json=False)
    verb = "Created" if result.created else "Same rows as existing"
    out.print(f"{verb} snapshot [bold]{snap.id[:12]}[/bold]: {snap.num_rows:,} rows.")
    if result.quarantine_uri:
        out.print(
            f"Quarantined {result.report.rejected:,} rows with their reasons: "
            f"[cyan]{result.quarantine_uri}[/cyan]"
        )


@data_app.command("list")
def list_(as_json: Json = False, project: ProjectDir = Path(".")) -> None:
    """List snapshots, newest first.  [dim]e.g. prodml data list[/dim]"""
    ws = open_workspace(project)
    snaps = ws.metadata.list_snapshots()
    if as_json:
        out.print_json(json.dumps([_snapshot_summary(s) for s in snaps], default=str))
        return
    table = Table(title="Snapshots", title_justify="left")
    for column in ("id", "source", "rows", "quarantined", "contract", "created"):
        table.add_column(column)
    for s in snaps:
        table.add_row(
            s.id[:12],
            s.source,
            f"{s.num_rows:,}",
            f"{s.quarantined_rows:,}",
            s.contract_version or "",
            s.created_at.strftime("%Y-%m-%d %H:%M"),
        )
    out.print(table if snaps else "No snapshots yet: `prodml data ingest SOURCE -c CONTRACT`.")


@data_app.command()
def show(snapshot: str, as_json: Json = False, project: ProjectDir = Path(".")) -> None:
    """Show one snapshot: lineage, profile and every ingestion that produced it.

    [dim]e.g. prodml data show 3fa9c2[/dim]
    """
    ws = open_workspace(project)
    snap = ws.metadata.get_snapshot(snapshot)
    ingestions = ws.metadata.list_ingestions(snap.id)
    if as_json:
        body = {
            **_snapshot_summary(snap),
            "profile": snap.profile,
            "lineage": snap.lineage,
            "ingestions": [i.__dict__ for i in ingestions],
        }
        out.print_json(json.dumps(body, default=str))
        return
    out.print(
        f"[bold]Snapshot {snap.id}[/bold]\n{snap.num_rows:,} rows × {snap.num_columns} columns "
        f"from {snap.source}; contract {snap.contract_version}; parents "
        f"{', '.join(p[:12] for p in snap.parents) or 'none'}\nstored at {snap.uri}"
    )
    table = Table(title="Profile", title_justify="left")
    for column in ("column", "kind", "nulls", "min / top", "max / distinct"):
        table.add_column(column)
    for name, col in snap.profile.get("columns", {}).items():
        if col["kind"] == "numeric":
            low, high = col.get("min"), col.get("max")
            table.add_row(name, "numeric", f"{col['null_fraction']:.1%}", _num(low), _num(high))
        else:
            top = next(iter(col.get("top", {})), "")
            table.add_row(
                name,
                "categorical",
                f"{col['null_fraction']:.1%}",
                str(top),
                str(col.get("distinct", "")),
            )
    out.print(table)
    for i in ingestions:
        out.print(
            f"ingested {i.created_at:%Y-%m-%d %H:%M} from {i.source}: {i.rows:,} rows read, "
            f"{i.rejected:,} quarantined{' → ' + i.quarantine_uri if i.quarantine_uri else ''}"
        )


@data_app.command()
def diff(old: str, new: str, as_json: Json = False, project: ProjectDir = Path(".")) -> None:
    """What changed between two snapshots: rows, schema and distributions.

    [dim]e.g. prodml data diff 3fa9c2 77b1e0[/dim]
    """
    ws = open_workspace(project)
    from prodml.data.diff import diff_snapshots

    a, b = ws.metadata.get_snapshot(old), ws.metadata.get_snapshot(new)
    result = diff_snapshots(a, ws.read_snapshot(a.id), b, ws.read_snapshot(b.id))
    if as_json:
        out.print_json(json.dumps(result, default=str))
        return
    out.print(
        f"{a.id[:12]} → {b.id[:12]}: {result['rows_added']:,} rows added, "
        f"{result['rows_removed']:,} removed, {result['rows_kept']:,} unchanged."
    )
    schema = result["schema"]
    for kind in ("added", "removed", "retyped"):
        if schema[kind]:
            out.print(f"columns {kind}: {', '.join(map(str, schema[kind]))}")
    table = Table(title="Per column", title_justify="left")
    for column in ("column", "nulls before", "nulls after", "PSI"):
        table.add_column(column)
    for name, change in result["columns"].items():
        table.add_row(
            name,
            f"{change['null_before']:.1%}",
            f"{change['null_after']:.1%}",
            f"{change['psi']:.3f}",
        )
    out.print(table)


def _open(
    project: Path,
    contract: Path,
    spec: str,
    query: str | None,
    file_format: str | None,
    null_values: list[str] | None,
    permission: str | None = None,
) -> tuple[Any, Contract, Source]:
    """The workspace, the contract and the source a command works on, once the
    command's token is found to hold `permission` (if it writes)."""
    ws = open_workspace(project)
    if permission is not None:
        authorize(ws, permission)
    return ws, Contract.load(contract), _source(spec, query, file_format, null_values)


def _source(
    spec: str, query: str | None, file_format: str | None, null_values: list[str] | None
) -> Source:
    try:
        return open_source(
            spec, query=query, file_format=file_format, null_values=["", *(null_values or [])]
        )
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


@contextmanager
def _progress(title: str) -> Iterator[Any]:
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed:,} rows"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=err, transient=True) as progress:
        task = progress.add_task(title, total=None)
        yield lambda n: progress.advance(task, n)


def _show_report(report: ValidationReport, as_json: bool) -> None:
    if as_json:
        out.print_json(json.dumps(report.to_dict(), default=str))
        return
    out.print(
        f"[bold]{report.source}[/bold] against contract {report.contract} "
        f"({report.contract_version}): {report.rows:,} rows, {report.accepted:,} accepted, "
        f"{report.rejected:,} rejected ({report.reject_fraction:.2%})."
    )
    if not report.violations:
        out.print("[green]Every check passed.[/green]")
        return
    table = Table(title="Checks that failed", title_justify="left")
    for column in ("severity", "check", "column", "count", "what", "examples (row: value)"):
        table.add_column(column, overflow="fold")
    for v in report.violations:
        examples = ", ".join(
            f"{_where(f, report.source)}{r}: {e!r}"
            for f, r, e in zip(v.files or [""] * len(v.rows), v.rows, v.examples, strict=False)
        )
        style = "red" if v.severity == "error" else "yellow"
        table.add_row(
            f"[{style}]{v.severity}[/{style}]",
            v.check,
            v.column or "(dataset)",
            f"{v.count:,}" if v.count else "",
            v.message,
            examples,
        )
    out.print(table)


def _where(file: str, source: str) -> str:
    """A row's file, when the source is several files (a folder or a glob)."""
    return (
        f"{Path(file).name} " if file and file != source and Path(file).name not in source else ""
    )


def _contract_table(contract: Contract) -> Table:
    table = Table(title=f"Contract {contract.name}", title_justify="left")
    for column in ("column", "type", "nullable", "range / values", "pii"):
        table.add_column(column, overflow="fold")
    for name, col in contract.columns.items():
        if col.allowed is not None:
            what = ", ".join(col.allowed[:8]) + (
                f" … ({len(col.allowed)})" if len(col.allowed) > 8 else ""
            )
        elif col.min is not None or col.max is not None:
            what = f"{_num(col.min)} … {_num(col.max)}"
        else:
            what = ""
        table.add_row(name, col.type, "yes" if col.nullable else "no", what, col.pii or "")
    return table


def _header(source: str, rows: int, contract: Contract) -> str:
    text = (
        f"Data contract inferred by `prodml data infer` from {rows:,} rows of {source}.\n"
        "Review before committing: ranges carry a margin, `allowed` lists and PII tags are\n"
        "guesses, and every check is an error (the row is quarantined) unless `severity`\n"
        "says warning, e.g. severity: {range: warning}."
    )
    if contract.event_timestamp and contract.max_age is None:
        text += (
            f"\nNo max_age: the newest {contract.event_timestamp} is over a week old, so the\n"
            "data looks historical. For a live feed, set how old its newest row may be (36h)."
        )
    return text


def _snapshot_summary(s: Any) -> dict[str, Any]:
    return {
        "id": s.id,
        "source": s.source,
        "rows": s.num_rows,
        "quarantined": s.quarantined_rows,
        "contract_version": s.contract_version,
        "parents": s.parents,
        "created_at": s.created_at,
    }


def _num(value: float | None) -> str:
    return "" if value is None else f"{value:g}"
