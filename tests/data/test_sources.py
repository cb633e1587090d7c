import pandas as pd
import pyarrow as pa
import pytest

from prodml.data.sources import Fingerprinted, open_source
from prodml.errors import ConfigError, NotFoundError, SourceError


@pytest.fixture
def frame():
    return pd.DataFrame(
        {"id": range(10), "city": list("abcdefghij"), "x": [i / 2 for i in range(10)]}
    )


def _rows(source, chunk_rows=100_000):
    return pa.Table.from_batches(list(source.batches(chunk_rows))).to_pandas()


@pytest.mark.parametrize("suffix", ["csv", "parquet"])
def test_a_file_a_folder_and_a_glob_read_the_same_rows(tmp_path, frame, suffix):
    (tmp_path / "part").mkdir()
    for i, part in enumerate((frame.iloc[:6], frame.iloc[6:])):
        path = tmp_path / "part" / f"{i}.{suffix}"
        part.to_csv(path, index=False) if suffix == "csv" else part.to_parquet(path)
    for spec in (tmp_path / "part", f"{tmp_path}/part/*.{suffix}"):
        got = _rows(open_source(spec))
        assert got["id"].astype(int).tolist() == list(range(10))
    assert _rows(open_source(tmp_path / "part" / f"0.{suffix}"))["city"].tolist() == list("abcdef")


def test_csv_cells_arrive_as_text_to_be_typed_by_the_contract(tmp_path, frame):
    frame.to_csv(tmp_path / "f.csv", index=False)
    batch = next(open_source(tmp_path / "f.csv").batches())
    assert {str(t) for t in batch.schema.types} == {"string"}


def test_any_fsspec_url_works(frame):
    import fsspec

    with fsspec.open("memory://prodml-src/f.parquet", "wb") as f:
        frame.to_parquet(f)
    assert len(_rows(open_source("memory://prodml-src/f.parquet"))) == 10


def test_large_inputs_stream_in_chunks(tmp_path):
    big = pd.DataFrame({"n": range(25_000)})
    big.to_parquet(tmp_path / "big.parquet", row_group_size=5_000)
    sizes = [b.num_rows for b in open_source(tmp_path / "big.parquet").batches(chunk_rows=4_000)]
    assert max(sizes) <= 4_000
    assert sum(sizes) == 25_000


def test_in_memory_frames_and_tables(frame):
    assert len(_rows(open_source(frame))) == 10
    assert len(_rows(open_source(pa.Table.from_pandas(frame)))) == 10


def test_file_and_memory_sources_fingerprint_and_it_changes_with_the_input(tmp_path, frame):
    path = tmp_path / "f.parquet"
    frame.to_parquet(path)
    source = open_source(path)
    assert isinstance(source, Fingerprinted)
    before = source.fingerprint()
    frame.assign(x=0).to_parquet(path)
    assert open_source(path).fingerprint() != before
    assert open_source(frame).fingerprint() != open_source(frame.assign(x=1)).fingerprint()


@pytest.mark.postgres
def test_a_sql_query_streams_from_postgres(postgres_url):
    from sqlalchemy import create_engine, text

    engine = create_engine(postgres_url)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (id int, name text)"))
        conn.execute(text("INSERT INTO t SELECT g, 'n' || g FROM generate_series(1, 2500) g"))
    engine.dispose()
    source = open_source(postgres_url, query="SELECT id, name FROM t ORDER BY id")
    sizes = [b.num_rows for b in source.batches(chunk_rows=1000)]
    assert sizes == [1000, 1000, 500]
    assert "postgres" in source.name
    with pytest.raises(SourceError, match=r"the query failed.*nope"):
        list(open_source(postgres_url, query="SELECT * FROM nope").batches())


def test_a_database_url_without_a_query_says_so():
    with pytest.raises(ValueError, match="pass the query"):
        open_source("postgresql://u@h/db")


# -- bad input: each one names the file (and column and row where it applies) ---------------


def test_a_missing_file(tmp_path):
    with pytest.raises(NotFoundError, match=r"nope\.csv: no such file"):
        open_source(tmp_path / "nope.csv")


def test_an_unknown_format_asks_for_one(tmp_path):
    (tmp_path / "data.txt").write_text("a\n1\n")
    with pytest.raises(ConfigError, match=r"cannot tell the format.*--format"):
        open_source(tmp_path / "data.txt")
    assert len(_rows(open_source(tmp_path / "data.txt", file_format="csv"))) == 1


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "the file is empty"),
        (b"a,a\n1,2\n", "duplicated column name.*'a'"),
        (b"a,\n1,2\n", "a column has an empty name"),
        (b"a,b\n1,2\n\xff\xfe,3\n", r"column 'a', row 2 \(line 3\) is not UTF-8"),
        (b"a,b\n1,2\n3\n", r"line 3 has 1 fields, the header 2 \('3'\)"),
    ],
)
def test_malformed_csv_is_located(tmp_path, content, message):
    (tmp_path / "bad.csv").write_bytes(content)
    with pytest.raises(SourceError, match=message) as info:
        list(open_source(tmp_path / "bad.csv").batches())
    assert "bad.csv" in str(info.value)


def test_a_header_only_csv_reads_as_no_rows(tmp_path):
    (tmp_path / "h.csv").write_text("a,b\n")
    assert sum(b.num_rows for b in open_source(tmp_path / "h.csv").batches()) == 0


@pytest.mark.parametrize("damage", [lambda b: b[: len(b) // 2], lambda b: b"not parquet at all"])
def test_truncated_or_foreign_parquet_is_named(tmp_path, frame, damage):
    frame.to_parquet(tmp_path / "good.parquet")
    (tmp_path / "bad.parquet").write_bytes(damage((tmp_path / "good.parquet").read_bytes()))
    with pytest.raises(SourceError, match=r"bad\.parquet: not a readable Parquet file"):
        list(open_source(tmp_path / "bad.parquet").batches())


def test_duplicated_columns_in_a_frame_are_refused():
    frame = pd.DataFrame([[1, 2]], columns=["a", "a"])
    with pytest.raises(SourceError, match="duplicated column name"):
        open_source(frame)


def test_a_column_mixing_types_arrives_as_text_for_the_contract_to_type(tmp_path):
    from sqlalchemy import create_engine, text

    url = f"sqlite:///{tmp_path / 'mixed.db'}"
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (v)"))
        conn.execute(text("INSERT INTO t VALUES (1), ('two'), (3.5)"))
    engine.dispose()
    assert _rows(open_source(url, query="SELECT v FROM t"))["v"].tolist() == ["1", "two", "3.5"]
    mixed = pd.DataFrame({"v": [1, "two", 3.5]})
    assert _rows(open_source(mixed))["v"].tolist() == ["1", "two", "3.5"]


def test_a_folder_named_like_a_database_is_still_a_folder(tmp_path, frame):
    (tmp_path / "sqlite").mkdir()
    frame.to_parquet(tmp_path / "sqlite" / "f.parquet")
    assert len(_rows(open_source(tmp_path / "sqlite"))) == 10
