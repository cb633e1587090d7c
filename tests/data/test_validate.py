from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest

from prodml.data.validate import BATCH, PII_WITHHELD, REASON, ROW, Validator, validate_frame
from prodml.errors import DataValidationError
from tests.data._contracts import orders, orders_contract

NOW = datetime(2024, 3, 2, tzinfo=UTC)


def _bad_orders() -> pd.DataFrame:
    frame = orders(10).astype({"amount": object, "order_id": object})
    frame.loc[1, "amount"] = "lots"  # not a number
    frame.loc[2, "amount"] = -5.0  # below min
    frame.loc[3, "shop"] = "east"  # not allowed
    frame.loc[4, "placed_at"] = pd.NaT  # missing, not nullable
    frame.loc[5, "order_id"] = 0  # duplicates row 0's key
    frame.loc[6, "amount"] = "-1"  # two failures in one row: text below min...
    frame.loc[6, "shop"] = None  # ...and a missing shop
    return frame


def test_each_bad_row_is_rejected_with_all_its_reasons_and_its_row_number():
    accepted, rejected, _ = validate_frame(_bad_orders(), orders_contract())
    assert sorted(accepted["order_id"].tolist()) == [0, 7, 8, 9]
    reasons = dict(zip(rejected[ROW], rejected[REASON], strict=True))
    assert reasons == {
        2: "amount: not a number",
        3: "amount: below min 0",
        4: "shop: not an allowed value",
        5: "placed_at: missing",
        6: "order_id: duplicate key (order_id)",
        7: "shop: missing; amount: below min 0",
    }
    assert rejected["amount"].iloc[0] == "lots"  # quarantined as it arrived
    assert set(rejected[BATCH]) == {"inline"}


def test_accepted_rows_are_typed_by_the_contract():
    accepted, _, _ = validate_frame(orders(4).astype(str), orders_contract())
    assert str(accepted["order_id"].dtype) == "Int64"
    assert str(accepted["amount"].dtype) == "float64"
    assert str(accepted["paid"].dtype) == "boolean"
    assert str(accepted["placed_at"].dtype) == "datetime64[us, UTC]"


def test_warnings_keep_the_row_and_are_reported_with_examples():
    contract = orders_contract()
    contract.columns["shop"].severity = {"allowed": "warning"}
    frame = orders(10)
    frame.loc[[3, 4], "shop"] = "east"
    accepted, rejected, validator = validate_frame(frame, contract)
    assert len(accepted) == 10
    assert rejected.empty
    report = validator.finish(now=NOW)
    (warning,) = report.violations
    assert (warning.severity, warning.count, warning.examples, warning.rows) == (
        "warning",
        2,
        ["east", "east"],
        [4, 5],
    )


def test_a_personal_columns_failing_values_are_not_copied_into_the_report():
    contract = orders_contract()
    contract.columns["shop"].pii = "address"
    frame = orders(30)
    frame.loc[[3, 4], "shop"] = "12 Private Lane"
    _, rejected, validator = validate_frame(frame, contract)
    (violation,) = validator.finish(now=NOW).violations
    assert violation.examples == [PII_WITHHELD, PII_WITHHELD]
    assert violation.rows == [4, 5]  # where to look, in the source its owner holds
    assert "12 Private Lane" not in str(validator.report.to_dict())
    assert len(rejected) == 2  # the rows themselves are quarantined, as every reject is


def test_duplicate_keys_are_caught_across_batches():
    validator = Validator(orders_contract(), source="s", batch_id="b")
    validator.check(orders(10))
    _, rejected = validator.check(orders(10, start=5))
    assert rejected[ROW].tolist() == [11, 12, 13, 14, 15]


def _stamps(*values: str) -> pd.DataFrame:
    frame = orders(len(values)).astype({"placed_at": object})
    frame["placed_at"] = list(values)
    return frame


def test_zoned_times_in_any_notation_are_read_as_utc():
    frame = _stamps(
        "2024-03-01T10:00:00Z",
        "2024-03-01T11:00:00+01:00",
        "2024-03-01 05:00 -05",
        "2024-03-01T10:00:00 UTC",
    )
    accepted, rejected, _ = validate_frame(frame, orders_contract())
    assert rejected.empty
    assert accepted["placed_at"].dt.hour.tolist() == [10, 10, 10, 10]


def test_a_bare_time_is_rejected_unless_the_contract_names_its_zone():
    frame = _stamps("2024-03-01T10:00:00Z", "2024-03-01 12:00:00")
    _, rejected, _ = validate_frame(frame, orders_contract())
    assert rejected[ROW].tolist() == [2]
    assert "no time zone" in rejected[REASON].iloc[0]
    contract = orders_contract()
    contract.columns["placed_at"].timezone = "America/New_York"
    accepted, rejected, _ = validate_frame(frame, contract)
    assert rejected.empty
    assert accepted["placed_at"].dt.hour.tolist() == [10, 17]  # 12:00 in New York is 17:00 UTC


def test_the_zone_decision_does_not_depend_on_chunking():
    frame = _stamps("2024-03-01 12:00:00", "2024-03-01T10:00:00Z", "2024-03-01 13:00:00")
    one = Validator(orders_contract(), source="s", batch_id="b")
    _, together = one.check(frame)
    two = Validator(orders_contract(), source="s", batch_id="b")
    apart = [two.check(frame.iloc[[i]])[1] for i in range(3)]
    assert together[ROW].tolist() == [r for part in apart for r in part[ROW].tolist()] == [1, 3]


def test_integers_stay_exact_and_out_of_range_values_are_rejected():
    frame = orders(3).astype({"order_id": object})
    frame["order_id"] = ["9007199254740993", "99999999999999999999", "1e20"]
    accepted, rejected, _ = validate_frame(frame, orders_contract())
    assert accepted["order_id"].tolist() == [9007199254740993]
    assert rejected[ROW].tolist() == [2, 3]


def test_a_rejected_first_copy_does_not_make_the_second_a_duplicate():
    frame = orders(3)
    frame["order_id"] = [1, 1, 2]
    frame.loc[0, "amount"] = -1.0
    accepted, rejected, _ = validate_frame(frame, orders_contract())
    assert accepted["order_id"].tolist() == [1, 2]
    assert rejected[REASON].tolist() == ["amount: below min 0"]


def test_missing_keys_are_not_duplicates_of_each_other():
    contract = orders_contract()
    contract.columns["order_id"].nullable = True
    frame = orders(3).astype({"order_id": object})
    frame["order_id"] = [None, None, 1]
    accepted, rejected, _ = validate_frame(frame, contract)
    assert rejected.empty
    assert len(accepted) == 3


def test_allowed_values_apply_to_integer_columns_as_text():
    contract = orders_contract()
    contract.columns["order_id"].allowed = ["1", "2"]
    frame = orders(3)
    frame["order_id"] = [1, 2, 3]
    _, rejected, _ = validate_frame(frame, contract)
    assert rejected[ROW].tolist() == [3]


def test_a_missing_column_rejects_the_batch_naming_it():
    with pytest.raises(DataValidationError, match=r"missing column.*paid.*contract 'orders'"):
        validate_frame(orders(4).drop(columns=["paid"]), orders_contract())


def test_an_extra_column_is_refused_unless_allowed():
    frame = orders(4).assign(coupon="X")
    with pytest.raises(DataValidationError, match=r"coupon.*allow_extra_columns"):
        validate_frame(frame, orders_contract())
    accepted, _, validator = validate_frame(frame, orders_contract(allow_extra_columns=True))
    assert "coupon" not in accepted
    assert validator.finish(now=NOW).violations[0].check == "extra_columns"


def test_an_all_null_column_of_a_required_field_rejects_every_row():
    frame = orders(10).assign(amount=np.nan)
    validator = Validator(orders_contract(), source="orders.csv", batch_id="b")
    _, rejected = validator.check(frame)
    assert len(rejected) == 10
    with pytest.raises(
        DataValidationError, match=r"orders\.csv: the whole batch is rejected.*10 of 10"
    ):
        validator.finish(now=NOW)


def test_zero_rows_is_a_clear_error():
    validator = Validator(orders_contract(), source="empty.csv", batch_id="b")
    with pytest.raises(DataValidationError, match=r"empty\.csv: no rows"):
        validator.finish(now=NOW)


def test_staleness_looks_at_accepted_rows_only():
    contract = orders_contract(max_age="1h")
    frame = orders(2)
    frame.loc[1, "placed_at"] = pd.Timestamp("2024-03-01 23:59", tz="UTC")  # fresh...
    frame.loc[1, "amount"] = -1.0  # ...but rejected
    validator = Validator(contract, source="orders", batch_id="b")
    validator.check(frame)
    with pytest.raises(DataValidationError, match="older than max_age 1h"):
        validator.finish(now=NOW)


def test_row_count_and_staleness_are_dataset_checks():
    contract = orders_contract(max_age="1h")
    contract.rows.max = 5
    validator = Validator(contract, source="orders", batch_id="b")
    validator.check(orders(10))
    with pytest.raises(DataValidationError, match=r"10 rows, expected 1–5.*older than max_age 1h"):
        validator.finish(now=NOW)


def test_distribution_and_null_rate_changes_against_the_reference_are_warnings():
    contract = orders_contract()
    validator = Validator(contract, source="orders", batch_id="b")
    validator.check(orders(10))
    reference = {"columns": {"amount": {"null_fraction": 0.0}}}
    contract.reference = reference
    report = validator.finish(
        now=NOW, profile={"columns": {"amount": {"null_fraction": 0.3}}}, drift={"amount": 0.9}
    )
    assert {(v.check, v.severity) for v in report.violations} == {
        ("null_rate", "warning"),
        ("drift", "warning"),
    }
