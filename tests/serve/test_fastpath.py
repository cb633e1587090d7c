"""The one-row paths: LightGBM's single-row fast path and compiled trees, each giving
`Booster.predict`'s numbers to the last bit."""

import os
import struct

import numpy as np
import pytest

from prodml.registry import ModelVersionInfo
from prodml.serve import Predictor
from prodml.serve.compiled import CompiledTrees, available, compile_booster, probe_rows, verify
from prodml.serve.deployment import Deployment
from prodml.serve.policy import Policy
from prodml.train import fit_model
from prodml.train.flavors._fastpath import SingleRowBooster
from tests._data import TOY_SPEC, toy_frame


@pytest.fixture(scope="module")
def lightgbm(tmp_path_factory):
    from prodml.train.model import TrainedModel

    frame = toy_frame(np.random.default_rng(4), 3000)
    model = fit_model("lightgbm", frame, "y", TOY_SPEC, params={"num_boost_round": 60})
    folder = tmp_path_factory.mktemp("model")
    model.save(folder)
    return TrainedModel.load(folder), frame  # as served: loaded from its files


def test_the_fast_path_gives_booster_predict_to_the_last_bit(lightgbm):
    model, frame = lightgbm
    matrix = model.encoder.encode_frame(frame.head(500))
    fast = SingleRowBooster(model.estimator, matrix.shape[1])
    expected = model.estimator.predict(matrix, num_threads=1)
    assert [fast.predict(row.tobytes()) for row in matrix] == expected.tolist()


def test_one_row_and_many_rows_score_the_same(lightgbm):
    model, frame = lightgbm
    predictor = Predictor(model, ModelVersionInfo("toy", "1", "r", "s", ()))
    rows = frame[list(TOY_SPEC.names)].head(50).to_dict("records")
    together = predictor.scores(rows)
    alone = [score for row in rows for score in predictor.scores([row])]
    assert alone == together


def test_a_row_of_the_wrong_width_is_refused(lightgbm):
    model, _ = lightgbm
    fast = SingleRowBooster(model.estimator, 3)
    with pytest.raises(ValueError, match="row must be 3 float64 values"):
        fast.predict(np.zeros(2).tobytes())


@pytest.fixture(scope="module")
def compiled(lightgbm, tmp_path_factory):
    """The toy model's trees compiled with this machine's C compiler."""
    reason = available()
    if reason:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true but compiled trees cannot be built here: {reason}")
        pytest.skip(f"compiled trees cannot be built here: {reason}")
    model, _ = lightgbm
    booster = model.estimator
    library = compile_booster(booster, tmp_path_factory.mktemp("compiled"))
    return CompiledTrees(library, booster.num_feature(), SingleRowBooster(booster, 3))


def test_compiled_trees_give_booster_predict_to_the_last_bit(lightgbm, compiled):
    model, frame = lightgbm
    booster = model.estimator
    # Rows on every edge of every split (categorical ones too), and real rows with gaps.
    assert verify(compiled, booster, probe_rows(booster, n=3000)) == 0
    assert verify(compiled, booster, model.encoder.encode_frame(frame)) == 0


def test_a_value_the_compiled_code_would_misread_is_scored_by_lightgbm(lightgbm, compiled):
    model, _ = lightgbm
    # Its low 32 bits are the compiled code's "missing" marker: 1.0000000009313226.
    (tricky,) = struct.unpack("<d", struct.pack("<II", 0xFFFFFFFF, 0x3FF00000))
    row = np.array([[1.0, tricky, tricky]])
    expected = model.estimator.predict(row, num_threads=1)[0]
    assert compiled.predict(row[0].tobytes()) == expected


def test_a_compiled_library_is_built_once_per_model_and_compiler(lightgbm, compiled):
    model, _ = lightgbm
    again = compile_booster(model.estimator, compiled.library.parent.parent)
    assert again == compiled.library


def test_a_predictor_switches_to_compiled_trees_and_answers_the_same(lightgbm, compiled):
    model, frame = lightgbm
    predictor = Predictor(model, ModelVersionInfo("toy", "1", "r", "s", ()))
    rows = frame[list(TOY_SPEC.names)].head(200).to_dict("records")
    before = [predictor.scores([row])[0] for row in rows]
    assert predictor.engine == "lightgbm"
    assert not predictor.quick(rows[:1])  # LightGBM's own path may release the GIL and wait
    predictor.compile_in_background(compiled.library.parent.parent).join()
    assert predictor.engine == "compiled"
    assert [predictor.scores([row])[0] for row in rows] == before
    # bounded and free of I/O: a rollout arm may score it on the server's loop
    assert predictor.quick(rows[:1])
    assert not predictor.quick(rows[:2])


def test_a_version_swapped_in_takes_traffic_once_its_trees_are_compiled(
    lightgbm, compiled, tmp_path
):
    """A canary judged on latency must not be judged on LightGBM's slower path while its
    own compiler competes for the cores."""
    model, _ = lightgbm
    stable = Predictor(model, ModelVersionInfo("toy", "1", "r", "s", ()))

    def load(version: str) -> Predictor:
        loaded = Predictor(model, ModelVersionInfo("toy", version, "r", "s", ()))
        loaded.compile_in_background(tmp_path / "fresh-cache")  # a real compile, seconds
        return loaded

    deployment = Deployment(stable, resolve=lambda: Policy.single("toy", "2"), load=load)
    event = deployment.check()
    assert event is not None
    assert event.ok
    assert deployment.current.engine == "compiled"
