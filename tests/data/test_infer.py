import pandas as pd

from prodml.data import infer_contract, open_source


def _customers(n: int = 2000) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "customer_id": range(n),
            "email": [f"user{i}@example.com" for i in range(n)],
            "phone_number": ["+1 212 555 0100"] * n,
            "segment": ["retail", "business"] * (n // 2),
            "spend": [float(i % 100) + 0.5 for i in range(n)],
            "visits": [i % 7 for i in range(n)],
            "active": [True, False] * (n // 2),
            "signed_up": pd.date_range("2024-01-01", periods=n, freq="h", tz="UTC"),
            "note": [f"free text {i}" for i in range(n)],
        }
    )


def test_types_ranges_categories_keys_time_and_pii_are_drafted():
    contract = infer_contract(open_source(_customers()), "customers")
    cols = contract.columns
    assert {n: c.type for n, c in cols.items()} == {
        "customer_id": "integer", "email": "string", "phone_number": "string",
        "segment": "string", "spend": "float", "visits": "integer", "active": "boolean",
        "signed_up": "timestamp", "note": "string",
    }  # fmt: skip
    assert cols["segment"].allowed == ["business", "retail"]
    assert cols["note"].allowed is None  # free text is not a category
    assert cols["spend"].min == 0.0  # non-negative data keeps a non-negative bound
    assert cols["spend"].max > 99.5  # with a margin above the largest value
    assert cols["email"].pii == "email"
    assert cols["phone_number"].pii == "phone"
    assert contract.keys == ["customer_id"]
    assert contract.event_timestamp == "signed_up"
    assert contract.rows.min == 1000
    assert contract.rows.max == 4000
    assert contract.reference["num_rows"] == 2000


def test_csv_text_is_typed_like_the_original(tmp_path):
    _customers().to_csv(tmp_path / "c.csv", index=False)
    from_csv = infer_contract(open_source(tmp_path / "c.csv"), "customers").columns
    assert from_csv["spend"].type == "float"
    assert from_csv["visits"].type == "integer"
    assert from_csv["active"].type == "boolean"
    assert from_csv["signed_up"].type == "timestamp"


def test_pii_is_spotted_by_value_when_the_name_says_nothing():
    frame = pd.DataFrame({"contact": [f"p{i}@mail.org" for i in range(50)]})
    assert infer_contract(open_source(frame), "x").columns["contact"].pii == "email"


def test_nullable_follows_the_data():
    frame = pd.DataFrame({"a": [1.0, None, 3.0], "b": [1, 2, 3]})
    cols = infer_contract(open_source(frame), "x").columns
    assert cols["a"].nullable
    assert not cols["b"].nullable


def test_a_head_only_inference_leaves_the_row_count_open():
    contract = infer_contract(open_source(_customers()), "c", max_rows=100)
    assert contract.rows.min == 50
    assert contract.rows.max is None


def test_bare_timestamps_get_a_timezone_to_review_and_zoned_ones_none():
    bare = pd.DataFrame({"t": ["2024-01-01 10:00:00", "2024-01-02 11:00:00"]})
    zoned = pd.DataFrame({"t": ["2024-01-01T10:00:00Z", "2024-01-02T11:00:00+01:00"]})
    assert infer_contract(open_source(bare), "x").columns["t"].timezone == "UTC"
    assert infer_contract(open_source(zoned), "x").columns["t"].timezone is None


def test_freshness_is_proposed_for_a_live_feed_only():
    from datetime import UTC, datetime

    frame = pd.DataFrame({"t": pd.to_datetime(["2024-05-01T08:00Z", "2024-05-02T06:00Z"])})
    live = infer_contract(open_source(frame), "x", now=datetime(2024, 5, 3, 0, tzinfo=UTC))
    assert live.max_age == "36h"  # the newest row is 18 h old: twice that
    old = infer_contract(open_source(frame), "x", now=datetime(2025, 1, 1, tzinfo=UTC))
    assert old.max_age is None
