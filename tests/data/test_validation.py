import numpy as np
import pandas as pd
import pytest

from prodml.data.validation import REASON_COLUMN, Check, validate
from prodml.errors import DataValidationError


@pytest.fixture
def frame():
    return pd.DataFrame(
        {
            "origin": ["JFK", "LGA", "XXX", "EWR", None],
            "distance": [100.0, -5.0, 200.0, np.nan, 300.0],
        }
    )


CHECKS = (
    Check("origin", not_null=True, allowed=frozenset({"JFK", "LGA", "EWR"})),
    Check("distance", not_null=True, min_value=0, why="label unknown"),
)


def test_bad_rows_are_rejected_with_every_reason_and_good_rows_kept(frame):
    result = validate(frame, CHECKS, source="flights.csv", max_reject_fraction=1.0)
    assert result.accepted["origin"].tolist() == ["JFK"]
    reasons = dict(
        zip(result.rejected["origin"].fillna("∅"), result.rejected[REASON_COLUMN], strict=True)
    )
    assert reasons == {
        "LGA": "distance < 0 (label unknown)",
        "XXX": "origin not an allowed value",
        "EWR": "distance is missing (label unknown)",
        "∅": "origin is missing",
    }
    assert result.reasons["origin is missing"] == 1
    assert result.reject_fraction == pytest.approx(0.8)


def test_a_row_failing_two_checks_keeps_both_reasons():
    frame = pd.DataFrame({"origin": ["XXX"], "distance": [-1.0]})
    result = validate(frame, CHECKS, source="s", max_reject_fraction=1.0)
    assert result.rejected[REASON_COLUMN].iloc[0] == (
        "origin not an allowed value; distance < 0 (label unknown)"
    )


def test_too_many_failures_reject_the_whole_batch(frame):
    with pytest.raises(
        DataValidationError, match=r"flights\.csv: 4 of 5 rows \(80\.0%\).*whole batch"
    ):
        validate(frame, CHECKS, source="flights.csv", max_reject_fraction=0.5)


def test_a_missing_column_names_it_and_what_the_batch_has(frame):
    with pytest.raises(DataValidationError, match=r"missing column.*carrier.*has origin, distance"):
        validate(frame, [Check("carrier", not_null=True)], source="flights.csv")


def test_fraction_outside_0_1_is_refused(frame):
    with pytest.raises(ValueError, match=r"max_reject_fraction must be a float in \[0, 1\]"):
        validate(frame, CHECKS, source="s", max_reject_fraction=1.5)


def test_one_check_failing_two_ways_reports_both():
    frame = pd.DataFrame({"n": [5, 20]})
    check = Check("n", min_value=10, allowed=frozenset({20}), why="bad code")
    result = validate(frame, [check], source="s", max_reject_fraction=1.0)
    assert result.rejected[REASON_COLUMN].tolist() == [
        "n < 10 (bad code); n not an allowed value (bad code)"
    ]
