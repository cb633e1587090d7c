"""`prodml train`: a table (no Python) or a recipe through the cached pipeline; the best
model gated against the baselines and the champion, registered with its reference."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.progress import Progress
from rich.table import Table

from prodml.cli._auth import authorize
from prodml.cli._common import ProjectDir, err, open_workspace, out
from prodml.errors import ConfigError
from prodml.govern.roles import TRAIN
from prodml.workspace import Workspace

if TYPE_CHECKING:
    from prodml.settings import TrainingSettings
    from prodml.store.records import SnapshotRecord
    from prodml.train.tabular import Recipe
    from prodml.workflow import Registered


def train(
    recipe: Annotated[
        str | None,
        typer.Argument(
            help="module:function building the examples from snapshots, for what needs code "
            "(a feature store, derived labels). Leave out to train on a table with --data.",
            show_default=False,
        ),
    ] = None,
    data: Annotated[
        str | None,
        typer.Option(
            "--data", "-d", help="Train on the newest snapshot of this table.", show_default=False
        ),
    ] = None,
    label: Annotated[
        str | None, typer.Option("--label", "-l", help="The column to predict.", show_default=False)
    ] = None,
    time_column: Annotated[
        str | None,
        typer.Option(
            "--time",
            help="Split on this timestamp column (default: the contract's event time); "
            "'none' for a seeded random split.",
            show_default=False,
        ),
    ] = None,
    valid_from: Annotated[
        str | None,
        typer.Option(
            help="Validate on rows from this time on (ISO, e.g. 2024-06-01; UTC unless it says).",
            show_default=False,
        ),
    ] = None,
    valid_fraction: Annotated[
        float | None,
        typer.Option(
            min=0.01,
            max=0.9,
            help="Share held out for validation (default 0.2).",
            show_default=False,
        ),
    ] = None,
    task: Annotated[
        str | None,
        typer.Option(
            help="classification, regression, or auto (the default): from the label's type.",
            show_default=False,
        ),
    ] = None,
    model: Annotated[
        str | None,
        typer.Option(
            "--model", "-m", help="Registered name (default: the table's).", show_default=False
        ),
    ] = None,
    candidates: Annotated[
        str | None,
        typer.Option(
            help="Comma-separated: lightgbm (the default), or scikit-learn class paths.",
            show_default=False,
        ),
    ] = None,
    tune: Annotated[
        int | None,
        typer.Option(
            min=0, help="Optuna trials per tunable candidate (default 0: none).", show_default=False
        ),
    ] = None,
    include: Annotated[
        str | None,
        typer.Option(
            help="Columns to use even if id-like or PII (comma-separated).", show_default=False
        ),
    ] = None,
    exclude: Annotated[
        str | None, typer.Option(help="Columns never to use (comma-separated).", show_default=False)
    ] = None,
    positive: Annotated[
        str | None,
        typer.Option(
            help="The label value scored as 1 (default: yes/true/1, else the rarer).",
            show_default=False,
        ),
    ] = None,
    seed: Annotated[
        int | None,
        typer.Option(help="Seed of the split and the models (default 0).", show_default=False),
    ] = None,
    snapshot: Annotated[
        list[str] | None,
        typer.Option(
            "--snapshot", "-s", help="NAME=ID to pin an input; default: its newest snapshot."
        ),
    ] = None,
    project: ProjectDir = Path("."),
) -> None:
    """Train, evaluate, gate and register a model; unchanged steps come from the cache.

    On a table, with no Python: the features come from its contract (keys, id-like and
    PII columns and timestamps left out unless --include'd), the label's type decides the
    task, and the split is by time when there is a time column, else seeded and
    stratified. The same options can live under `training:` in prodml.yaml.

    [dim]e.g. prodml train --data churn --label churned[/dim]
    [dim]     prodml train --data houses --label price --tune 30[/dim]
    [dim]     prodml train mypackage.recipes:orders   (a recipe: module:function)[/dim]
    """
    started = time.perf_counter()
    ws = open_workspace(project)
    given = {
        "recipe": recipe,
        "data": data,
        "label": label,
        "time": time_column,
        "valid_from": valid_from,
        "valid_fraction": valid_fraction,
        "task": task,
        "model": model,
        "candidates": _csv(candidates),
        "tune": tune,
        "include": _csv(include),
        "exclude": _csv(exclude),
        "positive": positive,
        "seed": seed,
    }
    settings = ws.settings.training.model_copy(
        update={k: v for k, v in given.items() if v is not None}
    )
    authorize(ws, TRAIN, model=settings.model or settings.data)
    pins = _pins(snapshot or [])
    if settings.recipe and not data:
        built, inputs, recorded = _from_recipe(ws, settings.recipe, pins)
    elif settings.data:
        built, inputs, recorded = _from_table(ws, settings, pins)
    else:
        raise ConfigError(
            "What should be trained? Give a table and its label (prodml train --data orders "
            "--label returned), a recipe (prodml train package.module:function), or either "
            "under training: in prodml.yaml."
        )
    authorize(ws, TRAIN, model=built.spec.model_name)  # a token scoped to another model stops here
    registered = _run(ws, built, inputs, recorded)
    _report(registered, built, time.perf_counter() - started)


def _from_recipe(
    ws: Workspace, path: str, pins: dict[str, str]
) -> tuple[Recipe, dict[str, SnapshotRecord], tuple[str, dict[str, Any] | None]]:
    from prodml.train.tabular import load_recipe

    build = load_recipe(path)
    names: tuple[str, ...] = getattr(build, "inputs", ())
    if not names:
        raise ConfigError(
            f"Recipe {path} does not say which snapshots it reads: set its `inputs` "
            "attribute to their names, e.g. recipe.inputs = ('orders', 'customers')."
        )
    unknown = set(pins) - set(names)
    if unknown:
        raise ConfigError(f"--snapshot names {sorted(unknown)}; {path} reads {list(names)}.")
    inputs = {n: ws.metadata.get_snapshot(pins[n]) if n in pins else ws.snapshot(n) for n in names}
    built = build({n: ws.read_snapshot(s.id) for n, s in inputs.items()}, ws.project_dir)
    return built, inputs, (path, None)


def _from_table(
    ws: Workspace, settings: TrainingSettings, pins: dict[str, str]
) -> tuple[Recipe, dict[str, SnapshotRecord], tuple[str, dict[str, Any] | None]]:
    from prodml.train import table
    from prodml.workflow import table_recipe

    unknown = set(pins) - {settings.data}
    if unknown:
        raise ConfigError(
            f"--snapshot names {sorted(unknown)}; this training reads {settings.data!r}."
        )
    built, inputs, config = table_recipe(ws, settings, snapshot_id=pins.get(str(settings.data)))
    for note in [*table.TableConfig.from_dict(config).notes, f"Split: {built.spec.split}."]:
        err.print(note)
    return built, inputs, (table.RECIPE, config)


def _run(
    ws: Workspace,
    built: Recipe,
    inputs: dict[str, SnapshotRecord],
    recorded: tuple[str, dict[str, Any] | None],
) -> Registered:
    from prodml.train.tabular import steps
    from prodml.workflow import train_and_register

    with Progress(console=err, transient=True) as progress, _trials_shown(progress):
        task = progress.add_task("Pipeline steps", total=len(steps(built.spec)))
        return train_and_register(
            ws,
            built,
            inputs=inputs,
            recorded_as=recorded[0],
            config=recorded[1],
            on_step=lambda record: progress.update(
                task,
                advance=1,
                description=f"{record.name} ({'cached' if record.cached else 'ran'})",
            ),
        )


def _report(registered: Registered, built: Recipe, seconds: float) -> None:
    result, version, spec = registered.result, registered.version, built.spec
    assert result is not None  # trained here, not registered from elsewhere
    table = Table(title=f"{spec.model_name}: validation {spec.judged_by}", title_justify="left")
    for column in ("model", spec.judged_by, "run"):
        table.add_column(column)
    for name, evaluation in result.evaluations.items():
        mark = " ★" if name == result.best else ""
        table.add_row(
            name + mark, f"{evaluation['metrics'][spec.judged_by]:.4f}", result.run_ids[name]
        )
    out.print(table)
    reused = len(result.pipeline.records) - len(result.pipeline.ran)
    verdict = "passed" if registered.passed else "failed: " + "; ".join(result.gate["reasons"])
    aliases = " ".join("@" + a for a in version.aliases) or "no alias"
    out.print(
        f"Gate {verdict}. {spec.model_name} version {version.version} ({aliases}). "
        f"{reused} of {len(result.pipeline.records)} steps from cache; {seconds:.1f} s."
    )
    if not registered.passed:
        out.print(
            "The candidates did not earn an alias. More signal helps: --tune 30, other "
            "--candidates, or more columns (--include); `prodml models card` shows the version."
        )
    else:
        ref = f"{spec.model_name}@{version.aliases[0]}" if version.aliases else version.ref
        out.print(
            f"Next: prodml serve {ref}   ·   prodml score {ref} -i rows.csv -o scores.parquet"
        )


@contextmanager
def _trials_shown(progress: Progress) -> Iterator[None]:
    """Tuning trials as a second bar, while a tuning step runs."""
    from prodml.train.tuning import on_trial

    trials = progress.add_task("Tuning trials", total=None, visible=False)

    def trial_done(done: int, planned: int) -> None:
        progress.update(trials, completed=done, total=planned, visible=done < planned)

    token = on_trial.set(trial_done)
    try:
        yield
    finally:
        on_trial.reset(token)


def _pins(pinned: list[str]) -> dict[str, str]:
    """NAME=ID options as {name: id}; the ids are looked up once the names are checked."""
    chosen = {}
    for item in pinned:
        name, sep, sid = item.partition("=")
        if not sep:
            raise ConfigError(f"--snapshot {item!r}: give NAME=ID (`prodml data list` shows ids).")
        chosen[name] = sid
    return chosen


def _csv(value: str | None) -> list[str] | None:
    return None if value is None else [v.strip() for v in value.split(",") if v.strip()]
