import numpy as np
import pytest

from prodml.registry import ModelVersionInfo
from prodml.serve import Predictor
from prodml.serve.fastpath import SingleRowBooster
from prodml.train import fit_model
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
    assert [fast.predict(row) for row in matrix] == expected.tolist()


def test_one_row_and_many_rows_score_the_same(lightgbm):
    model, frame = lightgbm
    predictor = Predictor(model, ModelVersionInfo("toy", "1", "r", "s", ()))
    rows = frame[list(TOY_SPEC.names)].head(50).to_dict("records")
    together = predictor.scores(rows)
    alone = np.concatenate([predictor.scores([row]) for row in rows])
    assert alone.tolist() == together.tolist()


def test_a_row_of_the_wrong_width_is_refused(lightgbm):
    model, _ = lightgbm
    fast = SingleRowBooster(model.estimator, 3)
    with pytest.raises(ValueError, match="row must be 3 float64 values"):
        fast.predict(np.zeros(2))
