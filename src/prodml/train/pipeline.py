"""A training pipeline of declared steps, each cached by exactly what it depends on.

A step's cache key hashes its name, its code (the step function's source, the whole module
it is defined in, prodml's own source and the installed packages), its parameters, and the
digests of its inputs: external ones (a snapshot id, a feature service version) or earlier
steps' outputs (a hash of their content). So re-running with nothing changed reuses every
step; changing an input re-runs exactly the steps whose inputs changed, and any change of
code or packages re-runs what it could affect. A cached output is checked against its
recorded digest before use; a damaged one is computed again.

    pipeline = Pipeline([Step("split", split_by_time, inputs=("examples",),
                              params={"valid_from": "2013-06-01"}), ...], cache_dir=...)
    result = pipeline.run({"examples": (frame, snapshot_id)})
"""

from __future__ import annotations

import hashlib
import inspect
import json
import logging
import shutil
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import pandas as pd

from prodml.errors import ConfigError, IntegrityError, ProdmlError, TrainingError
from prodml.store.hashing import MANIFEST, sha256_file
from prodml.train.environment import environment_digest
from prodml.train.model import TrainedModel

_RECORD = "record.json"
logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Step:
    """One step: `run(**inputs, **params)` returns a DataFrame, a `TrainedModel`, or
    JSON-able data; `inputs` name earlier steps or the pipeline's external inputs (as a
    mapping when the argument is named differently)."""

    name: str
    run: Callable[..., Any]
    inputs: tuple[str, ...] | Mapping[str, str] = ()  # or {argument: input name}
    params: Mapping[str, Any] = field(default_factory=dict)

    @property
    def arguments(self) -> dict[str, str]:
        """Argument name -> the step or external input it is given."""
        if isinstance(self.inputs, Mapping):
            return dict(self.inputs)
        return {name: name for name in self.inputs}


@dataclass
class StepRecord:
    """What a step did: its key, whether it came from the cache, its inputs and output."""

    name: str
    key: str
    cached: bool
    seconds: float
    inputs: dict[str, str]  # input name -> digest
    output: str  # digest of the output's content
    kind: str  # frame, model or json


@dataclass
class PipelineResult:
    outputs: dict[str, Any]
    records: list[StepRecord]

    @property
    def ran(self) -> list[str]:
        return [r.name for r in self.records if not r.cached]

    def to_dict(self) -> dict[str, Any]:
        return {"steps": [asdict(r) for r in self.records], "environment": environment_digest()}


class Pipeline:
    """Declared steps run in order, each reused from `cache_dir` when its key matches."""

    def __init__(self, steps: Sequence[Step], *, cache_dir: Path) -> None:
        self.steps = list(steps)
        self.cache_dir = cache_dir
        names = [s.name for s in self.steps]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ConfigError(f"Pipeline steps must have distinct names; repeated: {repeated}.")

    def run(
        self,
        external: Mapping[str, tuple[Any, str]],
        *,
        on_step: Callable[[StepRecord], None] | None = None,
    ) -> PipelineResult:
        """Run every step; `external` maps each outside input to (value, digest)."""
        values = {name: value for name, (value, _) in external.items()}
        digests = {name: digest for name, (_, digest) in external.items()}
        records = []
        for step in self.steps:
            arguments = step.arguments
            unknown = [i for i in arguments.values() if i not in values]
            if unknown:
                raise ConfigError(
                    f"Step {step.name!r} needs {unknown}, which is neither an external input "
                    f"({sorted(external)}) nor the output of an earlier step."
                )
            inputs = {arg: digests[name] for arg, name in arguments.items()}
            key = _key(step, inputs)
            started = time.perf_counter()
            loaded = self._load(key)
            if loaded is None:
                output = _call(step, {arg: values[name] for arg, name in arguments.items()})
                kind, digest = self._store(key, step, output, inputs, time.perf_counter() - started)
                record = StepRecord(
                    step.name, key, False, time.perf_counter() - started, inputs, digest, kind
                )
            else:
                output, saved = loaded
                record = StepRecord(
                    step.name,
                    key,
                    True,
                    time.perf_counter() - started,
                    inputs,
                    saved["output"],
                    saved["kind"],
                )
            values[step.name], digests[step.name] = output, record.output
            records.append(record)
            if on_step:
                on_step(record)
        return PipelineResult({s.name: values[s.name] for s in self.steps}, records)

    def _store(
        self, key: str, step: Step, output: Any, inputs: dict[str, str], seconds: float
    ) -> tuple[str, str]:
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{key}-", dir=self.cache_dir))
        try:
            kind, digest = _write(output, tmp)
            record = {"step": step.name, "kind": kind, "output": digest, "inputs": inputs}
            (tmp / _RECORD).write_text(json.dumps({**record, "seconds": seconds}, indent=2))
            final = self.cache_dir / key
            if final.exists():  # a damaged entry, or another run got there first
                shutil.rmtree(final)
            tmp.rename(final)  # the record inside makes the entry complete, all at once
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return kind, digest

    def _load(self, key: str) -> tuple[Any, dict[str, Any]] | None:
        folder = self.cache_dir / key
        if not (folder / _RECORD).exists():
            return None
        saved = json.loads((folder / _RECORD).read_text())
        try:
            if _digest(saved["kind"], folder) != saved["output"]:
                raise IntegrityError(f"{folder} does not match its record")
            return _read(saved["kind"], folder), saved
        except IntegrityError as exc:
            logger.warning(
                "cache entry of step %s is damaged (%s); computing it again", saved["step"], exc
            )
            return None


def _call(step: Step, inputs: dict[str, Any]) -> Any:
    try:
        return step.run(**inputs, **step.params)
    except ProdmlError:
        raise
    except Exception as exc:  # the user's step: say which one failed
        raise TrainingError(
            f"Step {step.name!r} failed: {type(exc).__name__}: {exc}. Nothing was cached for it."
        ) from exc


def _key(step: Step, inputs: Mapping[str, str]) -> str:
    body = {
        "step": step.name,
        "code": code_digest(step.run),
        "params": step.params,
        "inputs": dict(sorted(inputs.items())),
        "environment": environment_digest(),
    }
    text = json.dumps(body, sort_keys=True, default=repr)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def code_digest(function: Callable[..., Any]) -> str:
    """A hash of a step's code: its own source, the module it lives in, and prodml's."""
    digest = hashlib.sha256(_prodml_source().encode())
    try:
        digest.update(inspect.getsource(function).encode())
        module = inspect.getsourcefile(function)
        if module:
            digest.update(Path(module).read_bytes())
    except (OSError, TypeError):  # defined in a REPL: the bytecode is all there is
        digest.update(repr(getattr(function, "__code__", function)).encode())
    return digest.hexdigest()[:16]


@cache
def _prodml_source() -> str:
    root = Path(__file__).resolve().parents[1]
    return hashlib.sha256(b"".join(p.read_bytes() for p in sorted(root.rglob("*.py")))).hexdigest()


def _write(output: Any, folder: Path) -> tuple[str, str]:
    if isinstance(output, pd.DataFrame):
        output.to_parquet(folder / "output.parquet", index=False)
        kind = "frame"
    elif isinstance(output, TrainedModel):
        output.save(folder / "model")
        kind = "model"
    else:
        try:
            text = json.dumps(output, sort_keys=True, allow_nan=True)
        except TypeError as exc:
            raise ConfigError(
                f"A step returned {type(output).__name__}, which cannot be cached: return a "
                "DataFrame, a TrainedModel, or JSON-able data."
            ) from exc
        (folder / "output.json").write_text(text)
        kind = "json"
    return kind, _digest(kind, folder)


def _digest(kind: str, folder: Path) -> str:
    path = {
        "frame": folder / "output.parquet",
        "model": folder / "model" / MANIFEST,
        "json": folder / "output.json",
    }[kind]
    return sha256_file(path) if path.exists() else ""


def _read(kind: str, folder: Path) -> Any:
    if kind == "frame":
        return pd.read_parquet(folder / "output.parquet")
    if kind == "model":
        return TrainedModel.load(folder / "model", what=f"cached step output {folder.name}")
    return json.loads((folder / "output.json").read_text())
