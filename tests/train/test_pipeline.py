"""Cached pipeline steps: reuse when nothing changed, re-run exactly what an input, a
parameter, the code or the packages affect, and never reuse a damaged entry."""

import numpy as np
import pandas as pd
import pytest

from prodml.errors import ConfigError, TrainingError
from prodml.train import fit_model
from prodml.train import pipeline as pipeline_module
from prodml.train.model import TrainedModel
from prodml.train.pipeline import Pipeline, Step
from tests._data import TOY_SPEC, toy_frame

CALLS: list[str] = []


def load(raw):
    CALLS.append("load")
    return raw.assign(size=raw["size"].round(2))


def split(load, cutoff):
    CALLS.append("split")
    return {
        "train": int((load["size"] < cutoff).sum()),
        "valid": int((load["size"] >= cutoff).sum()),
    }


def train(load, flavor):
    CALLS.append("train")
    return fit_model(flavor, load, "y", TOY_SPEC)


def report(split, train):
    CALLS.append("report")
    return {**split, "flavor": train.flavor}


def _steps(cutoff=0.5, flavor="majority"):
    return [
        Step("load", load, inputs=("raw",)),
        Step("split", split, inputs=("load",), params={"cutoff": cutoff}),
        Step("train", train, inputs=("load",), params={"flavor": flavor}),
        Step("report", report, inputs=("split", "train")),
    ]


@pytest.fixture
def raw():
    return toy_frame(np.random.default_rng(0), 200)


@pytest.fixture(autouse=True)
def _fresh_calls():
    CALLS.clear()


def test_a_second_run_with_nothing_changed_reuses_every_step(tmp_path, raw):
    first = Pipeline(_steps(), cache_dir=tmp_path).run({"raw": (raw, "snap-1")})
    assert first.ran == ["load", "split", "train", "report"]
    CALLS.clear()
    again = Pipeline(_steps(), cache_dir=tmp_path).run({"raw": (raw, "snap-1")})
    assert again.ran == []
    assert CALLS == []
    assert again.outputs["report"] == first.outputs["report"]
    pd.testing.assert_frame_equal(again.outputs["load"], first.outputs["load"])
    assert isinstance(again.outputs["train"], TrainedModel)
    assert [r.key for r in again.records] == [r.key for r in first.records]


def test_a_changed_parameter_reruns_that_step_and_what_its_output_changes(tmp_path, raw):
    Pipeline(_steps(), cache_dir=tmp_path).run({"raw": (raw, "snap-1")})
    CALLS.clear()
    changed = Pipeline(_steps(cutoff=0.9), cache_dir=tmp_path).run({"raw": (raw, "snap-1")})
    assert changed.ran == ["split", "report"]  # load and train do not read the cutoff
    assert CALLS == ["split", "report"]


def test_a_changed_input_reruns_everything_downstream(tmp_path, raw):
    Pipeline(_steps(), cache_dir=tmp_path).run({"raw": (raw, "snap-1")})
    other = toy_frame(np.random.default_rng(1), 200)
    rerun = Pipeline(_steps(), cache_dir=tmp_path).run({"raw": (other, "snap-2")})
    assert rerun.ran == ["load", "split", "train", "report"]


def test_the_same_output_from_a_new_input_does_not_rerun_its_dependents(tmp_path, raw):
    Pipeline(_steps(), cache_dir=tmp_path).run({"raw": (raw, "snap-1")})
    # A new snapshot id with the same rows: load runs again, its output is identical by
    # content, so nothing after it has a new key.
    rerun = Pipeline(_steps(), cache_dir=tmp_path).run({"raw": (raw, "snap-1-copy")})
    assert rerun.ran == ["load"]


def test_changed_code_or_packages_never_reuse_a_stale_entry(tmp_path, raw, monkeypatch):
    Pipeline(_steps(), cache_dir=tmp_path).run({"raw": (raw, "snap-1")})

    def report(split, train):  # same name, different code
        return {**split, "flavor": train.flavor, "note": "new"}

    steps = [*_steps()[:3], Step("report", report, inputs=("split", "train"))]
    assert Pipeline(steps, cache_dir=tmp_path).run({"raw": (raw, "snap-1")}).ran == ["report"]
    monkeypatch.setattr(pipeline_module, "environment_digest", lambda: "other-packages")
    rerun = Pipeline(_steps(), cache_dir=tmp_path).run({"raw": (raw, "snap-1")})
    assert rerun.ran == ["load", "split", "train", "report"]


def test_a_damaged_cache_entry_is_computed_again(tmp_path, raw):
    first = Pipeline(_steps(), cache_dir=tmp_path).run({"raw": (raw, "snap-1")})
    split_key = next(r.key for r in first.records if r.name == "split")
    (tmp_path / split_key / "output.json").write_text('{"train": 1, "valid": 1}')
    model_key = next(r.key for r in first.records if r.name == "train")
    model_file = next(p for p in (tmp_path / model_key / "model").iterdir() if p.suffix != ".json")
    model_file.write_bytes(model_file.read_bytes() + b"tampered")
    again = Pipeline(_steps(), cache_dir=tmp_path).run({"raw": (raw, "snap-1")})
    # load was intact; report follows a re-saved model file, whose bytes may differ.
    assert again.ran[:2] == ["split", "train"]
    assert "load" not in again.ran
    assert again.outputs["split"] == first.outputs["split"]


def test_a_failing_step_is_named_and_leaves_nothing_cached(tmp_path, raw):
    def broken(load):
        raise ValueError("no label")

    steps = [Step("load", load, inputs=("raw",)), Step("fit", broken, inputs=("load",))]
    with pytest.raises(TrainingError, match=r"Step 'fit' failed: ValueError: no label"):
        Pipeline(steps, cache_dir=tmp_path).run({"raw": (raw, "snap-1")})
    assert len(list(tmp_path.iterdir())) == 1  # load's entry only, no half-written one


def test_declaration_mistakes_are_explained(tmp_path, raw):
    with pytest.raises(ConfigError, match=r"repeated: \['load'\]"):
        Pipeline([Step("load", load, inputs=("raw",))] * 2, cache_dir=tmp_path)
    with pytest.raises(ConfigError, match=r"Step 'split' needs \['nope'\]"):
        Pipeline([Step("split", split, inputs=("nope",))], cache_dir=tmp_path).run({})
    with pytest.raises(ConfigError, match="cannot be cached"):
        Pipeline([Step("odd", lambda: object())], cache_dir=tmp_path).run({})
