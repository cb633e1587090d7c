"""A small contract and matching data, generated in code, for the data-layer tests."""

from __future__ import annotations

import pandas as pd

from prodml.data.contract import ColumnContract, Contract, RowCount


def orders_contract(**extra) -> Contract:
    return Contract(
        name="orders",
        columns={
            "order_id": ColumnContract(type="integer", nullable=False),
            "shop": ColumnContract(type="string", nullable=False, allowed=["north", "south"]),
            "amount": ColumnContract(type="float", nullable=False, min=0, max=1000),
            "paid": ColumnContract(type="boolean"),
            "placed_at": ColumnContract(type="timestamp", nullable=False),
        },
        keys=["order_id"],
        event_timestamp="placed_at",
        rows=RowCount(min=1),
        **extra,
    )


def orders(n: int = 100, start: int = 0) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "order_id": range(start, start + n),
            "shop": [("north", "south")[i % 2] for i in range(n)],
            "amount": [float(i % 200) for i in range(n)],
            "paid": [i % 2 == 0 for i in range(n)],
            "placed_at": pd.date_range("2024-03-01", periods=n, freq="min", tz="UTC"),
        }
    )
