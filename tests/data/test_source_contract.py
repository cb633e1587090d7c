"""The contract every source meets, run against each implementation (files, SQL, memory)."""

import pandas as pd
import pyarrow as pa
import pytest
from sqlalchemy import create_engine

from prodml.data import open_source
from prodml.data.validate import validate_frame
from tests.data._contracts import orders, orders_contract

ROWS = 2_500


def _csv(tmp_path, frame, _):
    frame.to_csv(tmp_path / "o.csv", index=False)
    return open_source(tmp_path / "o.csv")


def _parquet(tmp_path, frame, _):
    frame.to_parquet(tmp_path / "o.parquet", row_group_size=700)
    return open_source(tmp_path / "o.parquet")


def _memory(tmp_path, frame, _):
    return open_source(frame)


def _sql(url):
    def make(tmp_path, frame, request):
        target = url(tmp_path, request)
        engine = create_engine(target)
        frame.assign(placed_at=frame["placed_at"].astype(str)).to_sql("orders", engine, index=False)
        engine.dispose()
        return open_source(target, query="SELECT * FROM orders ORDER BY order_id")

    return make


SOURCES = {
    "csv": _csv,
    "parquet": _parquet,
    "memory": _memory,
    "sqlite": _sql(lambda tmp_path, _: f"sqlite:///{tmp_path / 'o.db'}"),
    "postgres": _sql(lambda _, request: request.getfixturevalue("postgres_url")),
}


@pytest.fixture(
    params=[pytest.param(k, marks=pytest.mark.postgres) if k == "postgres" else k for k in SOURCES]
)
def source(request, tmp_path):
    return SOURCES[request.param](tmp_path, orders(ROWS), request)


def test_batches_respect_the_chunk_size_and_cover_every_row(source):
    sizes = [b.num_rows for b in source.batches(chunk_rows=1_000)]
    assert sum(sizes) == ROWS
    if "csv" not in source.name:  # CSV blocks are sized in bytes: roughly, not exactly
        assert max(sizes) <= 1_000


def test_every_source_gives_the_same_typed_rows(source):
    table = pa.Table.from_batches(list(source.batches())).to_pandas()
    accepted, rejected, _ = validate_frame(table, orders_contract())
    expected, _, _ = validate_frame(orders(ROWS), orders_contract())
    assert rejected.empty
    pd.testing.assert_frame_equal(accepted, expected)
