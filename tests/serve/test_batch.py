import numpy as np
import pandas as pd
import pytest

from prodml.errors import DataValidationError
from prodml.serve import PredictionLog, score_file
from tests._data import toy_frame


@pytest.fixture
def predictor(conformal_predictor):
    return conformal_predictor


@pytest.fixture(scope="module")
def ray_cluster():
    """A local Ray cluster of two CPUs, started once for this module's Ray runs."""
    import ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield
    ray.shutdown()


@pytest.fixture(params=["local", "ray"])
def engine(request):
    """Every engine must give the same outputs, rejects and log from the same file."""
    if request.param == "ray":
        request.getfixturevalue("ray_cluster")
    return request.param


def test_chunked_scores_equal_scoring_everything_at_once(predictor, engine, rng, tmp_path):
    frame = toy_frame(rng, 2500).assign(id=range(2500))
    frame.to_parquet(tmp_path / "in.parquet")
    chunks = []
    result = score_file(
        predictor,
        tmp_path / "in.parquet",
        tmp_path / "out.parquet",
        keep=["id"],
        chunk_rows=1000,
        on_chunk=chunks.append,
        engine=engine,
    )
    assert (result.scored, result.rejected) == (2500, 0)
    assert sum(chunks) == 2500
    assert max(chunks) <= 1000
    out = pd.read_parquet(tmp_path / "out.parquet")
    assert list(out.columns) == ["id", "score", "label", "set_has_0", "set_has_1"]
    assert out["id"].tolist() == list(range(2500))
    np.testing.assert_allclose(out["score"], predictor.model.predict_frame(frame))
    # The same answers as the API gives one row at a time.
    rows = frame[list(predictor.model.spec.names)].head(20).to_dict("records")
    for row, (_, scored) in zip(rows, out.head(20).iterrows(), strict=True):
        (one,) = predictor.predict([{k: (None if pd.isna(v) else v) for k, v in row.items()}])
        assert one.label == scored["label"]
        assert one.prediction_set == [c for c in (0, 1) if scored[f"set_has_{c}"]]


def test_bad_rows_go_to_the_rejects_file_with_row_and_reasons(predictor, engine, rng, tmp_path):
    frame = toy_frame(rng, 300).astype({"size": object, "color": object, "noise": object})
    frame.loc[5, "size"] = "big"
    frame.loc[7, "color"] = "purple"
    frame.loc[9, ["size", "color"]] = ["inf", "teal"]
    frame.loc[250, "noise"] = "?"  # in another chunk: row numbers count from the file's start
    frame.to_csv(tmp_path / "in.csv", index=False)
    with PredictionLog(tmp_path / "log") as log:
        result = score_file(
            predictor,
            tmp_path / "in.csv",
            tmp_path / "out.parquet",
            chunk_rows=100,
            engine=engine,
            log=log,
        )
        logged = log.read()
    assert (result.scored, result.rejected) == (296, 4)
    # The log holds the refused rows too, their reasons by kind: monitoring counts them.
    refused = logged[logged["rejected"].notna()].sort_values("row")
    assert refused["row"].tolist() == [5, 7, 9, 250]
    assert refused["rejected"].tolist() == [
        ["size: not a number"],
        ["color: unknown category"],
        ["size: not finite", "color: unknown category"],
        ["noise: not a number"],
    ]
    assert refused["sent"].iloc[1]["color"] == "purple"
    assert logged["probability"].notna().sum() == 296
    rejects = pd.read_parquet(tmp_path / "out.rejects.parquet")
    assert rejects["_row"].tolist() == [5, 7, 9, 250]
    reasons = rejects["_reject_reason"].tolist()
    assert reasons[0] == "size: big is not a number"
    assert reasons[1] == "color: purple is not one of the 3 known values"
    assert reasons[2] == "size: not a finite number; color: teal is not one of the 3 known values"
    assert reasons[3] == "noise: ? is not a number"
    out = pd.read_parquet(tmp_path / "out.parquet")
    assert len(out) == 296
    good = frame.drop(index=[5, 7, 9, 250]).astype({"size": float, "noise": float})
    np.testing.assert_allclose(out["score"], predictor.model.predict_frame(good))


def test_every_scored_row_is_in_the_prediction_log(predictor, engine, rng, tmp_path):
    toy_frame(rng, 1200).to_parquet(tmp_path / "in.parquet")
    with PredictionLog(tmp_path / "log") as log:
        log.append([{"request_id": "http-1", "probability": 0.5}])  # an API answer before
        result = score_file(
            predictor,
            tmp_path / "in.parquet",
            tmp_path / "out.parquet",
            chunk_rows=500,
            log=log,
            engine=engine,
        )
        log.append([{"request_id": "http-2", "probability": 0.5}])  # ... and after
        logged = log.read()
    assert logged["request_id"].tolist() == ["http-1", *[result.batch_id] * 1200, "http-2"]
    batch = logged[logged["request_id"] == result.batch_id]
    assert batch["row"].tolist() == list(range(1200))
    scores = pd.read_parquet(tmp_path / "out.parquet")["score"]
    np.testing.assert_array_equal(batch["probability"].to_numpy(), scores.to_numpy())
    assert set(batch["inputs"].iloc[0]) == {"color", "size", "noise"}


def test_a_missing_feature_is_named_and_no_output_is_written(predictor, rng, tmp_path):
    toy_frame(rng, 10).drop(columns=["size"]).to_parquet(tmp_path / "in.parquet")
    with pytest.raises(DataValidationError, match=r"in\.parquet: missing column\(s\) size"):
        score_file(predictor, tmp_path / "in.parquet", tmp_path / "out.parquet")
    assert not (tmp_path / "out.parquet").exists()


def test_a_job_stopped_midway_leaves_no_partial_output(predictor, rng, tmp_path):
    toy_frame(rng, 3000).to_parquet(tmp_path / "in.parquet")

    def interrupt(rows: int) -> None:  # as Ctrl-C would, after the first chunk
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        score_file(
            predictor,
            tmp_path / "in.parquet",
            tmp_path / "out.parquet",
            chunk_rows=1000,
            on_chunk=interrupt,
        )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.parquet"]
