"""Erasing a person's records from a prediction log (GDPR Art. 17) while servers go on
writing to it.

A Parquet segment is immutable: it is rewritten without the records and swapped in. A
JSON-lines segment may be a live writer's, appended through its own descriptor, so it is
never replaced: each record is overwritten where it lies by a tombstone of the same length
(``{"erased":true}`` and spaces), which readers skip. A segment being compacted while this
runs may copy a record before its tombstone lands: `erase_records` passes again until a
pass finds nothing.
"""

from __future__ import annotations

import os
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path

import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from prodml.predlog.log import PARQUET, TOMBSTONE, PredictionLog, segments_in

_PASSES = 3
_FIELDS = ("inputs", "sent", "features")  # where a request's values are kept


@dataclass
class Erased:
    """What an erasure removed: how many records, and the requests they belonged to, by
    model."""

    records: int = 0
    requests: dict[str, set[str]] = field(default_factory=dict)  # model -> request ids

    def add(self, record: dict[str, object]) -> None:
        self.records += 1
        ids = self.requests.setdefault(str(record.get("model")), set())
        ids.add(str(record.get("request_id")))


def erase_records(log: PredictionLog, column: str, values: Collection[str]) -> Erased:
    """Erase every record of `log` (every writer's folder) whose `column`, among the
    request's values, is one of `values` (compared as text: give the clear value and its
    keyed hash)."""
    wanted = {str(v) for v in values}
    erased = Erased()
    for _ in range(_PASSES):
        found = Erased()
        for folder in log.writer_folders():
            for segment in segments_in(folder):
                if segment.suffix == PARQUET:
                    _parquet(segment, column, wanted, found)
                else:
                    _jsonl(segment, column, wanted, found)
        erased.records += found.records
        for model, ids in found.requests.items():
            erased.requests.setdefault(model, set()).update(ids)
        if not found.records:
            break
    return erased


def _matches(record: dict[str, object], column: str, wanted: set[str]) -> bool:
    for part in _FIELDS:
        values = record.get(part)
        if isinstance(values, dict) and column in values and str(values[column]) in wanted:
            return True
    return False


def _jsonl(segment: Path, column: str, wanted: set[str], found: Erased) -> None:
    needle = [w.encode() for w in wanted]
    try:
        fd = os.open(segment, os.O_RDWR)
    except FileNotFoundError:  # compacted away meanwhile: its Parquet twin is seen next pass
        return
    try:
        data = os.pread(fd, os.fstat(fd).st_size, 0)
        offset = 0
        for line in data[: data.rfind(b"\n") + 1].splitlines(keepends=True):
            body = line.rstrip(b"\n")
            if any(n in body for n in needle):  # parse only the lines that could match
                record = orjson.loads(body)
                if _matches(record, column, wanted):
                    os.pwrite(fd, TOMBSTONE.ljust(len(body)), offset)
                    found.add(record)
            offset += len(line)
        os.fsync(fd)
    finally:
        os.close(fd)


def _parquet(segment: Path, column: str, wanted: set[str], found: Erased) -> None:
    try:
        table = pq.read_table(segment)
    except FileNotFoundError:
        return
    hit = pa.array([False] * table.num_rows)
    for part in _FIELDS:
        if part not in table.column_names:
            continue
        kind = table.schema.field(part).type
        if not pa.types.is_struct(kind) or kind.get_field_index(column) < 0:
            continue
        values = pc.cast(pc.struct_field(table[part], column), pa.string())
        hit = pc.or_(hit, pc.fill_null(pc.is_in(values, pa.array(sorted(wanted))), False))
    count = pc.sum(hit).as_py() or 0
    if not count:
        return
    for record in table.filter(hit).select(["model", "request_id"]).to_pylist():
        found.add(record)
    draft = segment.with_suffix(".erasing")
    pq.write_table(table.filter(pc.invert(hit)), draft, compression="zstd")
    os.replace(draft, segment)
