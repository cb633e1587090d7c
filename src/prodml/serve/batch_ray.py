"""Batch scoring on Ray Data, for a file bigger than one machine's patience.

Ray reads the file in blocks, a pool of actors (one per CPU the cluster offers) checks and
scores them with `batch.score_chunk` (the local engine's code), and the results stream
back in file order to this process, which writes the outputs and the prediction log just
as the local engine does. The model travels to the actors as its saved files, so a worker
on another node needs no access to the registry; the input path must be readable from
every node (a shared disk or object storage, as with any Ray Data job).
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa

from prodml.errors import ServingError
from prodml.registry import ModelVersionInfo
from prodml.serve.batch import PARQUET_SUFFIXES, ChunkPlan, csv_convert_options, score_chunk
from prodml.serve.predictor import Predictor
from prodml.train.model import TrainedModel


def scored_chunks(
    predictor: Predictor,
    source: Path,
    plan: ChunkPlan,
    chunk_rows: int,
    *,
    address: str | None = None,
) -> Iterator[pa.Table]:
    """`score_chunk`'s results for every chunk of `source`, in file order, computed by Ray
    actors on the cluster at `address` ("auto" for a running one; None starts a local one
    that ends with this process)."""
    ray = _ray()
    started = not ray.is_initialized()
    if started:
        try:
            ray.init(
                address=address,
                include_dashboard=False,
                log_to_driver=False,
                configure_logging=False,
            )
        except ConnectionError as exc:
            raise ServingError(
                f"No Ray cluster answers at {address}: {exc}. Start one with `ray start "
                "--head`, or leave the address out to run on a local cluster for this job."
            ) from exc
    context = ray.data.DataContext.get_current()
    before = (context.execution_options.preserve_order, context.enable_progress_bars)
    try:
        context.execution_options.preserve_order = True  # rows numbered as in the file
        context.enable_progress_bars = False  # the CLI draws its own
        columns = list(plan.columns)
        if source.suffix.lower() in PARQUET_SUFFIXES:
            dataset = ray.data.read_parquet(str(source)).select_columns(columns)
        else:
            dataset = ray.data.read_csv(
                str(source), convert_options=csv_convert_options(columns, plan.features)
            )
        workers = max(1, int(ray.cluster_resources().get("CPU", 1)))
        scored = dataset.map_batches(
            _ChunkScorer,
            fn_constructor_kwargs={"shipped": _ShippedPredictor.of(predictor), "plan": plan},
            batch_size=chunk_rows,
            batch_format="pyarrow",
            compute=ray.data.ActorPoolStrategy(min_size=1, max_size=workers),
            num_cpus=1,
        )
        yield from scored.iter_batches(batch_size=chunk_rows, batch_format="pyarrow")
    finally:
        # A caller's own Ray session gets its settings back.
        context.execution_options.preserve_order, context.enable_progress_bars = before
        if started:  # a cluster this job started ends with it
            ray.shutdown()


@dataclass(frozen=True)
class _ShippedPredictor:
    """A predictor as plain data an actor can rebuild it from: the model's saved files, the
    version it is, its threshold and coverage."""

    files: dict[str, bytes]
    info: ModelVersionInfo
    threshold: float
    coverage: float | None

    @classmethod
    def of(cls, predictor: Predictor) -> _ShippedPredictor:
        with tempfile.TemporaryDirectory(prefix="prodml-ship-") as tmp:
            folder = Path(tmp)
            predictor.model.save(folder)
            files = {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}
        return cls(files, predictor.info, predictor.threshold, predictor.coverage)

    def rebuild(self) -> Predictor:
        with tempfile.TemporaryDirectory(prefix="prodml-model-") as tmp:
            folder = Path(tmp)
            for name, data in self.files.items():
                (folder / name).write_bytes(data)
            model = TrainedModel.load(folder, what=f"model {self.info.ref}")
        kwargs: dict[str, Any] = {"threshold": self.threshold}
        if self.coverage is not None:
            kwargs["coverage"] = self.coverage
        return Predictor(model, self.info, **kwargs)


class _ChunkScorer:
    """One Ray actor: the predictor rebuilt once, then chunk after chunk on one thread
    (Ray gives each actor one CPU; LightGBM's own threads would fight over it)."""

    def __init__(self, shipped: _ShippedPredictor, plan: ChunkPlan) -> None:
        self.predictor = shipped.rebuild()
        self.plan = plan

    def __call__(self, chunk: pa.Table) -> pa.Table:
        return score_chunk(self.predictor, chunk, self.plan, num_threads=1)


def _ray() -> Any:
    try:
        import ray
        import ray.data
    except ImportError as exc:
        raise ServingError(
            "The Ray engine needs Ray Data: pip install 'prodml[ray]' (or use --engine local)."
        ) from exc
    return ray
