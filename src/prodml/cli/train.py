"""`prodml train`: run a recipe's pipeline (cached steps), gate the best model, register it."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import Progress
from rich.table import Table

from prodml.cli._common import ProjectDir, err, open_workspace, out
from prodml.errors import ConfigError
from prodml.workspace import Workspace


def train(
    recipe: Annotated[
        str, typer.Argument(help="module:function building the examples from snapshots.")
    ] = "prodml.demo.flights:recipe",
    snapshot: Annotated[
        list[str] | None,
        typer.Option(
            "--snapshot", "-s", help="NAME=ID to pin an input; default: its newest snapshot."
        ),
    ] = None,
    project: ProjectDir = Path("."),
) -> None:
    """Train, evaluate, gate and register a model; unchanged steps come from the cache.

    The recipe names the snapshots it reads (its `inputs`); each is the newest snapshot
    ingested from a file of that name unless pinned with --snapshot.
    [dim]e.g. prodml train prodml.demo.flights:recipe[/dim]
    """
    from prodml.registry.promotion import champion_of, register_result
    from prodml.train.tabular import RECIPE_TAG, load_recipe, steps
    from prodml.train.tabular import train as run

    started = time.perf_counter()
    ws = open_workspace(project)
    build = load_recipe(recipe)
    ids = _snapshot_ids(ws, getattr(build, "inputs", ()), snapshot or [], recipe)
    cooked = build({name: ws.read_snapshot(sid) for name, sid in ids.items()}, ws.project_dir)
    spec = cooked.spec
    champion = champion_of(ws.registry, spec.model_name)
    with Progress(console=err, transient=True) as progress, _trials_shown(progress):
        task = progress.add_task("Pipeline steps", total=len(steps(spec)))
        result = run(
            spec,
            cooked.examples,
            inputs={name: ws.metadata.get_snapshot(sid) for name, sid in ids.items()},
            feature_service=cooked.feature_service,
            cache_dir=ws.state_dir / "cache" / "steps",
            tracker=ws.tracker,
            champion=None if champion is None else (champion[0].ref, champion[1]),
            now=ws.clock.now(),
            on_step=lambda record: progress.update(
                task,
                advance=1,
                description=f"{record.name} ({'cached' if record.cached else 'ran'})",
            ),
        )
    result.tags[RECIPE_TAG] = recipe
    version = register_result(
        result, spec.model_name, ws.registry, ws.tracker, first=champion is None
    )
    # The drift reference, built once per version from the rows it learned from; the
    # validation rows (not fitted on) calibrate its label-free performance estimate.
    examples = cooked.examples
    when = examples[spec.time_column]
    held = when >= spec.valid_from
    if spec.valid_until is not None:
        held &= when < spec.valid_until
    held_out = examples[held]
    ws.save_reference(
        spec.model_name,
        version.version,
        examples,
        spec.features.names,
        holdout=held_out if len(held_out) else None,
        label=spec.label,
        sensitive=ws.settings.monitoring.sensitive,  # fairness at registration, to compare
    )
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
    verdict = "passed" if result.gate["passed"] else "failed: " + "; ".join(result.gate["reasons"])
    aliases = " ".join("@" + a for a in version.aliases) or "no alias"
    out.print(
        f"Gate {verdict}. {spec.model_name} version {version.version} ({aliases}). "
        f"{reused} of {len(result.pipeline.records)} steps from cache; "
        f"{time.perf_counter() - started:.1f} s."
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


def _snapshot_ids(
    ws: Workspace, names: tuple[str, ...], pinned: list[str], recipe: str
) -> dict[str, str]:
    if not names:
        raise ConfigError(
            f"Recipe {recipe} does not say which snapshots it reads: set its `inputs` "
            "attribute to their names, e.g. recipe.inputs = ('flights', 'weather')."
        )
    chosen = {}
    for item in pinned:
        name, sep, sid = item.partition("=")
        if not sep or name not in names:
            raise ConfigError(f"--snapshot {item!r}: give NAME=ID with NAME one of {list(names)}.")
        chosen[name] = ws.metadata.get_snapshot(sid).id
    newest = ws.metadata.list_snapshots()  # newest first
    for name in names:
        if name in chosen:
            continue
        found = next((s for s in newest if Path(s.source).name.split(".")[0] == name), None)
        if found is None:
            raise ConfigError(
                f"No snapshot of {name!r} has been ingested: run `prodml data ingest` on its "
                "export first (`prodml demo` ingests the flights ones)."
            )
        chosen[name] = found.id
    return chosen
