"""The front door for a notebook: open a workspace, ingest a frame, train on a table, or
register a model fitted elsewhere, each one call. Everything is then served, scored,
monitored and described by the same commands as a model prodml trained.

>>> import prodml  # doctest: +SKIP
>>> snap = prodml.ingest(frame, name="churn")  # doctest: +SKIP
>>> pipeline.fit(X_train, y_train)  # doctest: +SKIP
>>> prodml.register(pipeline, X_valid, y_valid, name="churn", data=snap)  # doctest: +SKIP

Every function takes `workspace`: an open `Workspace`, or the project folder to open
(default: the current one); a folder it opened is closed again before it returns.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from prodml.workspace import Workspace

if TYPE_CHECKING:
    import pandas as pd

    from prodml.clock import Clock
    from prodml.data import Contract, IngestResult
    from prodml.serve import Predictor
    from prodml.store.records import SnapshotRecord
    from prodml.workflow import Registered

WorkspaceLike = Workspace | str | os.PathLike[str]


def open(project_dir: str | os.PathLike[str] = ".", *, clock: Clock | None = None) -> Workspace:
    """The workspace of `project_dir` (its prodml.yaml and PRODML_* variables); use it in a
    `with` block, or pass it as `workspace=` to the other functions."""
    return Workspace.open(project_dir, clock=clock)


def ingest(
    data: pd.DataFrame | str | os.PathLike[str],
    *,
    name: str,
    contract: Contract | str | os.PathLike[str] | None = None,
    workspace: WorkspaceLike = ".",
) -> IngestResult:
    """Validate `data` (a DataFrame, or a CSV/Parquet path) and keep it as snapshot `name`.

    Without `contract`, the project's `NAME.contract.yaml` is used if there is one;
    otherwise a contract is inferred from these rows and written there for you to review
    (later batches are then checked against it). Rejected rows are quarantined with their
    reasons; `result.snapshot` is what was kept.
    """
    from prodml.data import Contract, infer_contract, open_source
    from prodml.data.sources.memory import MemorySource

    with _workspace(workspace) as ws:
        source = (
            MemorySource(data, name=name)
            if not isinstance(data, str | os.PathLike)
            else open_source(str(data))
        )
        if isinstance(contract, Contract):
            rules = contract
        elif contract is not None:
            rules = Contract.load(Path(contract))
        elif (file := ws.project_dir / f"{name}.contract.yaml").exists():
            rules = Contract.load(file)
        else:
            rules = infer_contract(source, name, now=ws.clock.now())
            rules.save(file)
        return ws.ingest(source, rules)


def train_table(
    data: str,
    *,
    label: str,
    workspace: WorkspaceLike = ".",
    **options: Any,
) -> Registered:
    """Train on the newest snapshot of table `data` to predict `label`, with no code: what
    `prodml train --data DATA --label LABEL` does. `options` are the `training:` settings
    (time, valid_from, valid_fraction, task, model, candidates, tune, include, exclude,
    positive, seed); the version registered, its verdict and figures are returned."""
    from prodml.settings import TrainingSettings
    from prodml.train.table import RECIPE
    from prodml.workflow import table_recipe, train_and_register

    with _workspace(workspace) as ws:
        settings = TrainingSettings.model_validate(
            {**ws.settings.training.model_dump(), **options, "data": data, "label": label}
        )
        recipe, inputs, config = table_recipe(ws, settings)
        return train_and_register(ws, recipe, inputs=inputs, recorded_as=RECIPE, config=config)


def register(
    model: Any,
    X: pd.DataFrame,  # scikit-learn's name for the feature matrix
    y: Any = None,
    *,
    name: str,
    data: SnapshotRecord | IngestResult | pd.DataFrame | str | None = None,
    intended_use: str = "",
    limitations: Sequence[str] = (),
    workspace: WorkspaceLike = ".",
) -> Registered:
    """Register a model fitted elsewhere as a version of `name`, ready for `prodml serve`,
    `score`, monitoring and its model card.

    `model` is any fitted scikit-learn estimator or `Pipeline` (ColumnTransformer and
    HistGradientBoosting* included) or a LightGBM model; `X` holds rows it was *not* fitted
    on, with the columns it reads, and `y` their truth. It is judged on them against the
    baselines (cross-fitted on the same rows) and the current champion; passing earns
    `@champion` (the first of its name) or `@challenger`. Without `y` it is registered
    with no alias. `data` is what it was fitted on, for lineage and the drift reference:
    a snapshot (or its name or id), an `ingest` result, or a DataFrame (kept as snapshot
    `NAME-training`).
    """
    import pandas as pd

    from prodml.data import IngestResult
    from prodml.workflow import register_fitted

    with _workspace(workspace) as ws:
        rows = None
        snapshot: SnapshotRecord | None
        if isinstance(data, pd.DataFrame):
            rows = data
            snapshot = ingest(data, name=f"{name}-training", workspace=ws).snapshot
        elif isinstance(data, IngestResult):
            snapshot = data.snapshot
        elif isinstance(data, str):
            snapshot = _snapshot(ws, data)
        else:
            snapshot = data
        if rows is None and snapshot is not None:
            rows = ws.read_snapshot(snapshot.id)
        return register_fitted(
            ws,
            model,
            X,
            y,
            name=name,
            data=snapshot,
            training_rows=rows,
            intended_use=intended_use,
            limitations=limitations,
        )


def load(ref: str, *, workspace: WorkspaceLike = ".") -> Predictor:
    """A registered version (`name@alias`, `name/3`, `name`) ready to answer as the server
    does: `.predict(rows)` with conformal sets or intervals, `.explain(rows)`."""
    with _workspace(workspace) as ws:
        return ws.predictor(ref)


def _snapshot(ws: Workspace, name_or_id: str) -> SnapshotRecord:
    from prodml.errors import NotFoundError

    try:
        return ws.snapshot(name_or_id)
    except NotFoundError:
        return ws.metadata.get_snapshot(name_or_id)


@contextmanager
def _workspace(given: WorkspaceLike) -> Iterator[Workspace]:
    if isinstance(given, Workspace):
        yield given
        return
    with Workspace.open(given) as ws:
        yield ws
