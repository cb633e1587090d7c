import numpy as np
import pandas as pd
import pytest

from prodml.data.profile import categorical_fractions, numeric_fractions, profile_frame


def test_numeric_profile_bins_at_deciles_and_counts_nulls(rng):
    values = pd.Series(rng.normal(size=10_000))
    values[:100] = np.nan
    column = profile_frame(pd.DataFrame({"x": values}))["columns"]["x"]
    assert column["kind"] == "numeric"
    assert column["nulls"] == 100
    assert column["null_fraction"] == 0.01
    assert len(column["edges"]) == 9
    assert np.allclose(column["fractions"], 0.1, atol=0.002)
    assert sum(column["fractions"]) == pytest.approx(1.0)


def test_values_outside_the_reference_range_land_in_the_outer_bins():
    shares = numeric_fractions(np.array([-100.0, 0.5, 100.0]), [0.0, 1.0])
    assert shares.tolist() == [1 / 3, 1 / 3, 1 / 3]


def test_categorical_profile_keeps_top_values_and_other_share():
    frame = pd.DataFrame({"c": ["a"] * 6 + ["b"] * 3 + ["c"]})
    column = profile_frame(frame)["columns"]["c"]
    assert column["kind"] == "categorical"
    assert column["top"] == {"a": 0.6, "b": 0.3, "c": 0.1}
    assert categorical_fractions(pd.Series(["a", "z"]), ["a", "b"]).tolist() == [0.5, 0.0, 0.5]


def test_a_streamed_profile_matches_the_whole_frame_where_it_is_exact(rng):
    from prodml.data.profile import ProfileBuilder

    frame = pd.DataFrame(
        {
            "x": rng.normal(50, 10, 30_000),
            "c": rng.choice(["a", "b", "c"], 30_000, p=[0.5, 0.3, 0.2]),
        }
    )
    frame.loc[::7, "x"] = np.nan
    builder = ProfileBuilder(sample_rows=5_000, seed=1)
    for start in range(0, len(frame), 7_000):
        builder.update(frame.iloc[start : start + 7_000])
    streamed, whole = builder.result(), profile_frame(frame)
    assert streamed["num_rows"] == 30_000
    assert streamed["sampled_rows"] == 5_000
    for key in ("nulls", "null_fraction", "min", "max"):
        assert streamed["columns"]["x"][key] == whole["columns"]["x"][key]
    assert streamed["columns"]["x"]["mean"] == pytest.approx(
        whole["columns"]["x"]["mean"], rel=1e-12
    )
    assert streamed["columns"]["x"]["std"] == pytest.approx(whole["columns"]["x"]["std"], rel=1e-9)
    assert streamed["columns"]["c"]["top"] == pytest.approx(whole["columns"]["c"]["top"])
    # Quantiles come from the sample: close, not equal.
    assert streamed["columns"]["x"]["quantiles"]["0.5"] == pytest.approx(50, abs=1)
