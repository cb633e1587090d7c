import numpy as np
import pandas as pd
import pytest

from prodml.errors import IntegrityError
from prodml.train import (
    FeatureSpec,
    TabularEncoder,
    TrainedModel,
    classification_metrics,
    fit_model,
)
from prodml.train.flavors import CLASSIFICATION, flavors_for, get_flavor
from tests._data import TOY_SPEC, toy_frame

FLAVORS = tuple(f for f in flavors_for(CLASSIFICATION) if get_flavor(f).ready)


@pytest.fixture(scope="module")
def data():
    frame = toy_frame(np.random.default_rng(7), n=6000)
    return frame.iloc[:4000], frame.iloc[4000:]


@pytest.fixture(scope="module")
def models(data):
    train, valid = data
    return {f: fit_model(f, train, "y", TOY_SPEC, valid=valid, seed=3) for f in FLAVORS}


def test_candidates_beat_the_majority_baseline(models, data):
    _, valid = data
    auc = {
        f: classification_metrics(valid["y"], m.predict_frame(valid))["roc_auc"]
        for f, m in models.items()
    }
    assert auc["majority"] == 0.5
    assert auc["logistic"] > 0.75
    assert auc["lightgbm"] > 0.75


def test_integer_categories_encode_the_same_from_frames_and_json_rows():
    frame = pd.DataFrame({"store": [1, 2, 2, None], "x": [0.0, 1.0, 2.0, 3.0]})
    encoder = TabularEncoder(FeatureSpec(("store",), ("x",))).fit(frame)
    from_frame = encoder.encode_frame(frame)[:, 0]
    from_rows = encoder.encode_rows([{"store": 1}, {"store": "2"}, {"store": 2}, {"store": None}])[
        :, 0
    ]
    np.testing.assert_array_equal(from_frame, from_rows)
    assert np.isnan(from_frame[3])
    assert not np.isnan(from_frame[:3]).any()


def test_a_packed_row_holds_the_bytes_of_its_encoded_row(models, data):
    _, valid = data
    encoder = models["lightgbm"].encoder
    rows = [
        {k: (None if v != v else v) for k, v in r.items()}
        for r in valid.iloc[:50].to_dict("records")
    ]
    rows.append({"color": "ultraviolet", "size": 0.1})  # unseen category, absent field
    matrix = encoder.encode_rows(rows)
    assert [encoder.pack_row(row) for row in rows] == [line.tobytes() for line in matrix]


def test_unseen_category_is_treated_as_missing_not_an_error(models):
    row = {"color": "ultraviolet", "size": 0.1, "noise": None}
    assert 0.0 < models["lightgbm"].predict_rows([row])[0] < 1.0
    assert np.isnan(models["lightgbm"].encoder.encode_rows([row])[0, 0])


def test_a_tampered_model_file_is_refused_before_loading(models, tmp_path):
    models["lightgbm"].save(tmp_path)
    text = (tmp_path / "model.txt").read_text()
    (tmp_path / "model.txt").write_text(text.replace("learning_rate", "learning_rat3", 1))
    with pytest.raises(IntegrityError, match=r"model\.txt has SHA-256"):
        TrainedModel.load(tmp_path)


def test_an_unknown_flavor_lists_the_known_ones(data):
    with pytest.raises(ValueError, match="flavor must be one of lightgbm, majority, logistic"):
        fit_model("xgboost", data[0], "y", TOY_SPEC)
