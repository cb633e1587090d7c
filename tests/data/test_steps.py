import pandas as pd
import pytest

from prodml.data import open_source
from prodml.data.contract import Contract
from prodml.data.steps import Dedup, Default, Derive, Trim
from prodml.data.validate import validate_frame
from prodml.errors import ConfigError, DataValidationError
from tests.data._contracts import orders, orders_contract


def amount_in_cents(frame: pd.DataFrame) -> pd.Series:
    return (frame["amount"] * 100).round()


def broken(frame: pd.DataFrame) -> pd.Series:
    raise KeyError("no such column")


DERIVE = Derive(derive="cents", type="integer", function="tests.data.test_steps:amount_in_cents")


def test_trim_and_default_clean_raw_cells_before_the_checks():
    frame = orders(4).astype({"shop": object, "paid": object})
    frame.loc[0, "shop"] = "  north "
    frame.loc[1, "paid"] = None
    contract = orders_contract(steps=[Trim(trim=["shop"]), Default(default={"paid": False})])
    contract.columns["paid"].nullable = False
    accepted, rejected, _ = validate_frame(frame, contract)
    assert rejected.empty
    assert accepted["shop"].iloc[0] == "north"
    assert not accepted["paid"].iloc[1]


def test_dedup_drops_repeated_keys_and_reports_them_instead_of_quarantining():
    contract = orders_contract(steps=[Dedup(dedup=["order_id"])])
    contract.keys = []
    frame = pd.concat([orders(10), orders(3)], ignore_index=True)
    accepted, rejected, validator = validate_frame(frame, contract)
    assert len(accepted) == 10
    assert rejected.empty
    assert validator.report.dropped == 3
    assert validator.report.accepted == 10


def test_derived_columns_are_computed_typed_and_stored(workspace):
    result = workspace.ingest(open_source(orders(10)), orders_contract(steps=[DERIVE]))
    rows = workspace.read_snapshot(result.snapshot.id)
    assert rows["cents"].tolist() == [round(a * 100) for a in orders(10)["amount"]]
    (step,) = result.snapshot.lineage["steps"]
    assert step["function"] == "tests.data.test_steps:amount_in_cents"
    assert len(step["source_sha256"]) == 64


def test_changing_the_steps_changes_the_contract_version():
    assert orders_contract(steps=[DERIVE]).version != orders_contract().version


def test_steps_are_read_from_yaml(tmp_path):
    orders_contract(steps=[Trim(trim=["shop"]), DERIVE]).save(tmp_path / "c.yaml")
    assert [type(s) for s in Contract.load(tmp_path / "c.yaml").steps] == [Trim, Derive]


def test_a_step_naming_an_unknown_column_is_refused():
    with pytest.raises(ValueError, match=r"steps name unknown column\(s\) \['colour'\]"):
        orders_contract(steps=[Trim(trim=["colour"])])


def test_a_derive_function_that_cannot_be_imported_says_how_to_name_it():
    contract = orders_contract(steps=[Derive(derive="x", type="float", function="nowhere:f")])
    with pytest.raises(ConfigError, match=r"'package\.module:function'"):
        validate_frame(orders(3), contract)


def test_a_derive_function_that_fails_is_named():
    step = Derive(derive="x", type="float", function="tests.data.test_steps:broken")
    with pytest.raises(
        DataValidationError, match=r"derive 'x': tests\.data\.test_steps:broken raised KeyError"
    ):
        validate_frame(orders(3), orders_contract(steps=[step]))


def test_a_step_on_a_column_the_source_lacks_is_a_missing_column_error():
    contract = orders_contract(steps=[Trim(trim=["shop"])])
    with pytest.raises(DataValidationError, match=r"missing column.*shop"):
        validate_frame(orders(3).drop(columns=["shop"]), contract)


def test_default_works_on_dictionary_encoded_parquet_columns(workspace, tmp_path):
    frame = orders(4).astype({"shop": "category"})
    frame.loc[1, "shop"] = None
    frame.to_parquet(tmp_path / "o.parquet")
    contract = orders_contract(steps=[Default(default={"shop": "north"})])
    result = workspace.ingest(open_source(tmp_path / "o.parquet"), contract)
    assert result.report.rejected == 0
