import numpy as np
import pandas as pd
import pytest

from prodml.errors import DataValidationError
from prodml.serve import score_parquet
from tests._data import toy_frame


@pytest.fixture
def model(toy_lightgbm):
    return toy_lightgbm


def test_chunked_scores_equal_scoring_everything_at_once(model, rng, tmp_path):
    frame = toy_frame(rng, 2500).assign(id=range(2500))
    frame.to_parquet(tmp_path / "in.parquet")
    chunks = []
    total = score_parquet(
        model,
        tmp_path / "in.parquet",
        tmp_path / "out.parquet",
        keep=["id"],
        chunk_rows=1000,
        on_chunk=chunks.append,
    )
    assert total == 2500
    assert chunks == [1000, 1000, 500]
    out = pd.read_parquet(tmp_path / "out.parquet")
    assert list(out.columns) == ["id", "score"]
    assert out["id"].tolist() == list(range(2500))
    np.testing.assert_allclose(out["score"], model.predict_frame(frame))


def test_a_missing_feature_is_named_and_no_output_is_written(model, rng, tmp_path):
    toy_frame(rng, 10).drop(columns=["size"]).to_parquet(tmp_path / "in.parquet")
    with pytest.raises(DataValidationError, match=r"in\.parquet: missing column\(s\) size"):
        score_parquet(model, tmp_path / "in.parquet", tmp_path / "out.parquet")
    assert not (tmp_path / "out.parquet").exists()
