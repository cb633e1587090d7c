"""CSV and Parquet: one file, a folder or a glob, on local disk or any fsspec URL.

Parquet keeps its types. CSV columns are read as text and typed later against the
contract, so one bad cell rejects one row instead of the whole file. Files are read in
sorted order (the snapshot id does not depend on it anyway).
"""

from __future__ import annotations

import contextlib
import csv
import io
from collections import Counter
from collections.abc import Iterator, Sequence

import fsspec
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from fsspec.implementations.local import LocalFileSystem

from prodml.errors import ConfigError, NotFoundError, SourceError

FORMATS = ("csv", "parquet")
FILE_KEY = b"prodml.file"  # batch schema metadata: the file a batch was read from


class FileSource:
    """`null_values`: the CSV cells read as missing. Only the empty cell by default, so a
    real "NA" (Namibia) or "null" stays text; R exports want null_values=("", "NA")."""

    def __init__(
        self, location: str, *, file_format: str | None = None, null_values: Sequence[str] = ("",)
    ) -> None:
        self.location = location
        self.null_values = list(null_values)
        self.name = location
        self.fs, root = fsspec.core.url_to_fs(location)
        self.paths = _expand(self.fs, root, location)
        self.file_format = file_format or _format_of(self.paths, location)
        if self.file_format not in FORMATS:
            raise ConfigError(
                f"{location}: unknown format {self.file_format!r}; use one of {', '.join(FORMATS)}."
            )

    def fingerprint(self) -> str:
        """Names, sizes and modification stamps of the files: changes when any file does."""
        parts = []
        for path in self.paths:
            info = self.fs.info(path)
            stamp = info.get("mtime") or info.get("LastModified") or info.get("ETag") or ""
            parts.append(f"{path}|{info.get('size')}|{stamp}")
        return "\n".join(parts)

    def batches(self, chunk_rows: int = 100_000) -> Iterator[pa.RecordBatch]:
        for path in self.paths:
            if self.file_format == "parquet":
                batches = _parquet_batches(self.fs, path, chunk_rows)
            else:
                batches = _csv_batches(self.fs, path, chunk_rows, self.null_values)
            for batch in batches:
                # Each batch says which file it is from, so rejected rows are located in it.
                metadata = {**(batch.schema.metadata or {}), FILE_KEY: path.encode()}
                yield batch.replace_schema_metadata(metadata)


def check_columns(names: Sequence[str], where: str) -> None:
    """Refuse tables whose columns cannot be addressed by name."""
    duplicated = sorted(name for name, n in Counter(names).items() if n > 1)
    if duplicated:
        raise SourceError(
            f"{where}: duplicated column name(s) {', '.join(map(repr, duplicated))}. "
            "Rename them so each column has one name."
        )
    if any(not str(name).strip() for name in names):
        raise SourceError(f"{where}: a column has an empty name. Give every column a header.")


def _expand(fs: fsspec.AbstractFileSystem, root: str, location: str) -> list[str]:
    if any(ch in root for ch in "*?["):
        paths = sorted(p for p in fs.glob(root) if fs.isfile(p))
    elif fs.isdir(root):
        paths = sorted(p for p in fs.find(root) if p.rsplit(".", 1)[-1].lower() in (*FORMATS, "pq"))
    elif fs.exists(root):
        paths = [root]
    else:
        raise NotFoundError(f"{location}: no such file or folder. Check the path.")
    if not paths:
        raise NotFoundError(f"{location}: matches no CSV or Parquet file.")
    return paths


def _format_of(paths: Sequence[str], location: str) -> str:
    suffixes = {p.rsplit(".", 1)[-1].lower() for p in paths}
    suffixes = {"parquet" if s == "pq" else s for s in suffixes}
    if len(suffixes) == 1 and (suffix := suffixes.pop()) in FORMATS:
        return suffix
    raise ConfigError(
        f"{location}: cannot tell the format from the file name(s) "
        f"({', '.join(sorted(suffixes))}); pass file_format='csv' or 'parquet' (--format)."
    )


def _parquet_batches(
    fs: fsspec.AbstractFileSystem, path: str, chunk_rows: int
) -> Iterator[pa.RecordBatch]:
    local = isinstance(fs, LocalFileSystem)
    # A local path is read by Arrow's own I/O (threaded), not through a Python file object.
    with contextlib.nullcontext(path) if local else fs.open(path, "rb") as handle:
        try:
            reader = pq.ParquetFile(handle)
            check_columns(reader.schema_arrow.names, path)
            yield from reader.iter_batches(batch_size=chunk_rows)
        except (pa.ArrowInvalid, OSError) as exc:
            raise SourceError(
                f"{path}: not a readable Parquet file ({exc}). It may be truncated or not "
                "Parquet at all; write it again, or pass --format csv if it is CSV."
            ) from None


def _csv_batches(
    fs: fsspec.AbstractFileSystem, path: str, chunk_rows: int, null_values: list[str]
) -> Iterator[pa.RecordBatch]:
    with fs.open(path, "rb") as handle:
        header = _header(handle, path)
        handle.seek(0)
        names = list(header)
        convert = pacsv.ConvertOptions(
            column_types=dict.fromkeys(names, pa.binary()),
            null_values=null_values,
            strings_can_be_null=True,
            quoted_strings_can_be_null=False,  # "" in quotes is an empty text, not missing
        )
        # Roughly chunk_rows rows per block; the reader never holds more than a block or two.
        read = pacsv.ReadOptions(block_size=max(1 << 16, min(chunk_rows * 256, 64 << 20)))
        ragged: list[pacsv.InvalidRow] = []

        def on_ragged(row: pacsv.InvalidRow) -> str:
            ragged.append(row)  # remembered so the error can say which line
            return "error"

        parse = pacsv.ParseOptions(invalid_row_handler=on_ragged)
        try:
            reader = pacsv.open_csv(
                handle, read_options=read, parse_options=parse, convert_options=convert
            )
            offset = 0
            for batch in reader:
                yield _decoded(batch, path, offset)
                offset += batch.num_rows
        except pa.ArrowInvalid as exc:
            if ragged:
                row = ragged[0]
                number = row.number or _first_ragged_line(fs, path, len(names))
                line = f"line {number}" if number else "a line"
                raise SourceError(
                    f"{path}: {line} has {row.actual_columns} fields, the header "
                    f"{row.expected_columns} ({row.text[:60]!r}). Fix or remove that line."
                ) from None
            raise SourceError(f"{path}: not readable as CSV ({exc}).") from None


def _first_ragged_line(fs: fsspec.AbstractFileSystem, path: str, fields: int) -> int | None:
    """The line where the first record with the wrong number of fields starts (error path
    only: pyarrow's parallel parser does not know line numbers)."""
    with fs.open(path, "rt", encoding="utf-8", errors="replace", newline="") as text:
        reader = csv.reader(text)
        start = 1
        for record in reader:
            if len(record) != fields:
                return start
            start = reader.line_num + 1
    return None


def _header(handle: io.IOBase, path: str) -> list[str]:
    first = handle.readline()
    if not first.strip():
        raise SourceError(f"{path}: the file is empty (no header line). Nothing to ingest.")
    try:
        text = first.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise SourceError(
            f"{path}: the header line is not UTF-8. Save the file as UTF-8."
        ) from None
    names = next(csv.reader([text]))
    check_columns(names, path)
    return names


def _decoded(batch: pa.RecordBatch, path: str, offset: int) -> pa.RecordBatch:
    """Binary CSV cells as text, naming the row of the first cell that is not UTF-8."""
    columns = []
    for name, column in zip(batch.schema.names, batch.columns, strict=True):
        try:
            columns.append(column.cast(pa.string()))
        except pa.ArrowInvalid:
            row, value = next(
                (i, v) for i, v in enumerate(column.to_pylist()) if v is not None and not _utf8(v)
            )
            raise SourceError(
                f"{path}: column {name!r}, row {offset + row + 1} (line {offset + row + 2}) is "
                f"not UTF-8 ({value[:40]!r}): the file mixes text encodings. Re-save it as "
                "UTF-8 and ingest it again."
            ) from None
    return pa.RecordBatch.from_arrays(columns, names=batch.schema.names)


def _utf8(value: bytes) -> bool:
    try:
        value.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True
