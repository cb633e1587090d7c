import pytest

from prodml.data.contract import ColumnContract, Contract
from prodml.errors import ConfigError


def _contract(**extra) -> Contract:
    return Contract(
        name="orders",
        columns={
            "order_id": ColumnContract(type="integer", nullable=False),
            "amount": ColumnContract(type="float", min=0, max=1e6),
            "placed_at": ColumnContract(type="timestamp"),
        },
        keys=["order_id"],
        event_timestamp="placed_at",
        **extra,
    )


def test_save_and_load_round_trip_with_the_reference_profile(tmp_path):
    contract = _contract(reference={"num_rows": 3, "columns": {}})
    contract.save(tmp_path / "orders.contract.yaml", header="Reviewed by the data team.")
    text = (tmp_path / "orders.contract.yaml").read_text()
    assert text.startswith("# Reviewed by the data team.\n")
    loaded = Contract.load(tmp_path / "orders.contract.yaml")
    assert loaded == contract
    assert loaded.reference == {"num_rows": 3, "columns": {}}
    assert loaded.version == contract.version


def test_the_version_changes_with_any_rule():
    assert _contract().version != _contract(max_reject_fraction=0.2).version
    loose = _contract()
    loose.columns["amount"].max = 2e6
    assert loose.version != _contract().version


def test_checks_are_errors_unless_marked_as_warnings():
    column = ColumnContract(type="string", severity={"allowed": "warning"})
    assert column.level("allowed") == "warning"
    assert column.level("null") == "error"


@pytest.mark.parametrize(
    ("yaml", "message"),
    [
        ("name: x\ncolumns: {a: {type: text}}\n", r"columns\.a\.type: Input should be 'string'"),
        ("name: x\ncolumns: {a: {type: string, colour: red}}\n", r"columns\.a\.colour"),
        ("name: x\ncolumns: {a: {type: string}}\nkeys: [b]\n", r"unknown column\(s\) \['b'\]"),
        ("name: x\ncolumns: {a: {type: string}}\nevent_timestamp: a\n", "must be a timestamp"),
        ("name: x\ncolumns: {a: {type: string}}\nmax_age: soon\n", "duration like '36h'"),
        ("name: x\ncolumns: [\n", "not a readable YAML contract"),
    ],
)
def test_a_bad_contract_names_the_file_and_the_field(tmp_path, yaml, message):
    (tmp_path / "c.yaml").write_text(yaml)
    with pytest.raises(ConfigError, match=message) as info:
        Contract.load(tmp_path / "c.yaml")
    assert "c.yaml" in str(info.value)


def test_a_missing_contract_says_how_to_make_one(tmp_path):
    with pytest.raises(ConfigError, match="prodml data infer"):
        Contract.load(tmp_path / "missing.yaml")
