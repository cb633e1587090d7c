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
