"""An append-only log of every answered prediction: JSON-lines segments, compacted to Parquet.

Durability, in two steps that cost a response almost nothing:

- `append` hands the records to the kernel with one ``write`` before it returns, so a
  prediction whose response was sent survives a ``kill -9`` of the server right after;
- a background thread ``fsync``s every `fsync_interval` seconds (group commit), so a power
  loss costs at most that window. ``fsync="always"`` syncs inside `append` instead, for
  callers who would rather wait a disk flush per request than risk that window.

A segment that reaches `segment_bytes` is handed to the background thread, which flushes
and closes it (appends go on in a new segment meanwhile) and starts a child process, at
idle CPU priority, to rewrite it as Parquet (zstd) and remove the JSON-lines file; the
group fsync goes on while the child works. Under a load that leaves no CPU idle the child
waits, and full segments stay JSON lines (readable as they are) until the load eases. A
crash mid-way leaves the JSON-lines file, which is compacted again on the next start.

A record torn by a crash mid-write was never acknowledged; reopening the log cuts it off,
so later records are never glued to it.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from pathlib import Path
from typing import IO, Any, Literal, TypeVar

import orjson
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

logger = logging.getLogger(__name__)
T = TypeVar("T")
_PREFIX = "predictions-"
# How long closing the log waits for a compaction: one the machine's load starved (it
# runs at idle priority) is stopped and done on the next start instead.
_CLOSE_COMPACTION_SECONDS = 120.0
JSONL, PARQUET = ".jsonl", ".parquet"
TOMBSTONE = b'{"erased":true}'  # an erased record, overwritten in place (`predlog.erase`)
_LAST_ANSWERED = b"prodml.last_answered"  # a Parquet segment's footer key: its newest record


class PredictionLog:
    """Durable prediction records under `folder`."""

    def __init__(
        self,
        folder: Path,
        *,
        segment_bytes: int = 64 << 20,
        fsync: Literal["batch", "always"] = "batch",
        fsync_interval: float = 0.05,
    ) -> None:
        if fsync not in ("batch", "always"):
            raise ValueError(f"fsync must be 'batch' or 'always'. Got {fsync!r} instead.")
        self.folder = folder
        self.segment_bytes = segment_bytes
        self.fsync = fsync
        self.fsync_interval = fsync_interval
        self._lock = threading.Lock()
        self._compactor = threading.Lock()  # guards `_child`
        # One retirement at a time: a `compact` must find queued what the background
        # thread took to retire just before it, or it returns with those uncompacted.
        self._retirer = threading.Lock()
        self._child: tuple[subprocess.Popen[bytes], IO[bytes]] | None = None
        self._fd: int | None = None  # opened on first append: readers hold no handle
        self._seq = 0
        self._size = 0
        self._dirty = False
        self._retiring: list[tuple[int, Path]] = []  # full segments to fsync and close
        self._closed: list[Path] = []  # full segments waiting to be compacted
        self._dir_dirty = False  # a segment was created since the folder was last fsynced
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._worker: threading.Thread | None = None

    def segments(self) -> list[Path]:
        """This writer's segments, Parquet or JSON lines, in write order."""
        return segments_in(self.folder)

    def writer(self, name: str) -> PredictionLog:
        """A log of its own for another process writing to the same deployment (a server
        worker): a subfolder, which this log's `read` and `count` include."""
        return PredictionLog(
            self.folder / name,
            segment_bytes=self.segment_bytes,
            fsync=self.fsync,
            fsync_interval=self.fsync_interval,
        )

    def append(self, records: Iterable[Mapping[str, Any]]) -> int:
        """Write `records` (see the module docstring for when they are durable); returns
        how many were written."""
        lines = [orjson.dumps(r, default=str, option=_ORJSON) for r in records]
        data = lines[0] if len(lines) == 1 else b"".join(lines)
        with self._lock:
            if self._fd is None:
                self._open_for_append()
            if self._size and self._size + len(data) > self.segment_bytes:
                self._rotate()
            assert self._fd is not None
            _write_all(self._fd, data)
            self._size += len(data)
            if self.fsync == "always":
                os.fsync(self._fd)
            else:
                self._dirty = True
        return len(lines)

    def read(self, since: datetime | None = None) -> pd.DataFrame:
        """Every complete record, in write order; with `since` (aware), only those answered
        at or after it. A Parquet segment whose newest record is older is not opened, so
        a reader of recent traffic (a rollout's analysis) pays for that traffic, not for
        the log's whole history."""

        def load() -> list[dict[str, Any]]:
            return [r for s in self._readable() if _may_hold(s, since) for r in _records(s)]

        frame = pd.DataFrame(_retrying(load))
        if since is None or frame.empty:
            return frame
        answered = pd.to_datetime(frame["timestamp"], utc=True, format="ISO8601")
        return frame[(answered >= pd.Timestamp(since)).to_numpy()].reset_index(drop=True)

    def find(self, request_id: str) -> list[dict[str, Any]]:
        """The records of request `request_id` (answered, refused, shadow copies), in write
        order. It reads every segment, but parses only the lines that name the id and
        only the Parquet rows that hold it: fit for a person's lookups, not for a loop."""
        needle = orjson.dumps({"request_id": request_id})[1:-1]  # as `append` writes it

        def matching(segment: Path) -> list[dict[str, Any]]:
            if segment.suffix == PARQUET:
                table = pq.read_table(segment, filters=[("request_id", "=", request_id)])
                return table.to_pylist()
            data = segment.read_bytes()
            if needle not in data:
                return []
            complete = data[: data.rfind(b"\n") + 1]
            lines = complete.splitlines()
            return [orjson.loads(line) for line in lines if needle in line and _live(line)]

        return _retrying(lambda: [r for s in self._readable() for r in matching(s)])

    def count(self) -> int:
        """How many complete records the log holds, without parsing them."""
        return _retrying(lambda: sum(_count(s) for s in self._readable()))

    def append_table(self, table: pa.Table) -> int:
        """Write a whole batch of records as one Parquet segment: the batch path, with no
        JSON in between. Durable (fsynced) when this returns."""
        with self._lock:
            if self._fd is None:
                self._open_for_append()
            if self._size:  # the live segment holds records: close it first
                self._rotate()
            assert self._fd is not None
            # The empty live segment gives its number to the table and moves up by one.
            os.close(self._fd)
            self._path(self._seq).unlink()
            target = self.folder / f"{_PREFIX}{self._seq:06d}{PARQUET}"
            _write_parquet(table, target)
            self._seq += 1
            self._new_segment()
        return table.num_rows

    def sync(self) -> None:
        """fsync what was appended so far (the background thread does this on its own).

        The flush runs outside the lock, on a duplicate of the descriptor, so appends (and
        the responses waiting on them) never wait for the disk."""
        with self._lock:
            new_names, self._dir_dirty = self._dir_dirty, False
            if self._fd is None or not self._dirty:
                fd = None
            else:
                fd = os.dup(self._fd)  # survives a rotation closing the original meanwhile
                self._dirty = False
        if new_names:
            _fsync_dir(self.folder)  # a new segment's name must be durable too
        if fd is None:
            return
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def compact(self, timeout: float | None = None) -> None:
        """Rewrite every full JSON-lines segment as Parquet now, and wait for it (normally
        done in the background after each rotation). After `timeout` seconds a compaction
        still running is stopped: its segments stay JSON lines, compacted on the next
        start (a compaction is crash-safe)."""
        with self._compactor:
            if self._reap(timeout):
                self._start_compaction()
                self._reap(timeout)

    def _compact_in_background(self) -> None:
        """Reap a finished compaction child, or start one for the full segments; never
        waits for it (nor for a `compact` under way), so the group fsync goes on."""
        if not self._compactor.acquire(blocking=False):
            return
        try:
            if self._reap(0):
                self._start_compaction()
        finally:
            self._compactor.release()

    def _start_compaction(self) -> None:
        self._retire()
        with self._lock:
            pending, self._closed = self._closed, []
        if not pending:
            return
        # In a child process: parsing a segment holds the GIL for most of a second, which
        # a server answering meanwhile would pay in latency. It runs at idle priority, so
        # it takes only CPU time the server leaves unused (see `_COMPACTOR`). Its errors go
        # to a file `_reap` closes: a pipe nobody reads until the end could fill and block.
        errors = tempfile.TemporaryFile()  # noqa: SIM115
        try:
            child = subprocess.Popen(  # noqa: S603 - our own interpreter and module, our paths
                # This file as a script: it imports no prodml package, so the child starts fast.
                [sys.executable, "-c", _COMPACTOR, __file__, *map(str, pending)],
                stdout=subprocess.DEVNULL,
                stderr=errors,
            )
        except BaseException:
            errors.close()
            with self._lock:  # tried again on the next pass
                self._closed[:0] = pending
            raise
        self._child = (child, errors)

    def _reap(self, timeout: float | None) -> bool:
        """Whether no compaction child is left running: polled (`timeout` 0), waited for
        (None), or waited for `timeout` seconds and then stopped."""
        if self._child is None:
            return True
        child, errors = self._child
        if timeout == 0:
            if child.poll() is None:
                return False
        else:
            try:
                child.wait(timeout)
            except subprocess.TimeoutExpired:
                child.kill()  # a second compactor of the same segments must never race it
                child.wait()
                logger.warning(
                    "prediction log: compaction stopped after %s s; its segments stay JSON "
                    "lines until the next start",
                    timeout,
                )
        self._child = None
        with errors:
            if child.returncode not in (0, -signal.SIGKILL):  # stopped: warned above
                errors.seek(0)
                logger.error(
                    "prediction log: compaction failed (segments stay JSON lines and are "
                    "compacted on the next start): %s",
                    errors.read()[-2000:].decode(errors="replace"),
                )
        return True

    def close(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._worker is not None:
            self._worker.join(timeout=60)
            self._worker = None
        self.sync()
        self.compact(timeout=_CLOSE_COMPACTION_SECONDS)
        with self._lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None
        self._stop.clear()

    def __enter__(self) -> PredictionLog:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def writer_folders(self) -> list[Path]:
        """This writer's folder, then each other writer's (see `writer`)."""
        folders = [self.folder]
        if self.folder.is_dir():
            folders += sorted(p for p in self.folder.iterdir() if p.is_dir())
        return folders

    def _readable(self) -> list[Path]:
        return [s for folder in self.writer_folders() for s in readable_segments(folder)]

    def _open_for_append(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        segments = self.segments()
        # A JSON-lines segment left by a crash, other than the newest, was full: compact it.
        self._closed.extend(p for p in segments[:-1] if p.suffix == JSONL)
        if segments and segments[-1].suffix == JSONL:
            self._seq = segment_number(segments[-1])
            self._fd = os.open(segments[-1], os.O_RDWR | os.O_APPEND)
            self._size = _cut_torn_tail(self._fd)
        else:
            self._seq = segment_number(segments[-1]) + 1 if segments else 0
            self._new_segment()
        self._start_worker()

    def _rotate(self) -> None:
        """Move appends to a new segment; the full one is flushed and closed by the
        background thread, since an fsync of 64 MB inside the lock would stall every
        response for as long as the disk takes."""
        assert self._fd is not None
        self._retiring.append((self._fd, self._path(self._seq)))
        self._dirty = False
        self._seq += 1
        self._new_segment()
        self._wake.set()

    def _retire(self) -> None:
        """fsync and close the full segments, then queue them for compaction."""
        with self._retirer:
            with self._lock:
                retiring, self._retiring = self._retiring, []
            for fd, _ in retiring:
                os.fsync(fd)
                os.close(fd)
            if retiring:
                with self._lock:
                    self._closed.extend(path for _, path in retiring)

    def _new_segment(self) -> None:
        self._fd = os.open(self._path(self._seq), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        self._size = 0
        self._dir_dirty = True  # `sync` makes the name durable, outside the lock

    def _path(self, seq: int) -> Path:
        return self.folder / f"{_PREFIX}{seq:06d}{JSONL}"

    def _start_worker(self) -> None:
        if self._worker is None and not self._stop.is_set():
            self._worker = threading.Thread(target=self._run, name="prodml-predlog", daemon=True)
            self._worker.start()
        self._wake.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.fsync_interval)
            self._wake.clear()
            try:
                self.sync()
                self._retire()  # full segments are flushed while a compaction runs too
                self._compact_in_background()
            except Exception:  # a full disk must not kill the thread; appends will fail loudly
                logger.exception("prediction log: sync or compaction failed in %s", self.folder)


_ORJSON = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS | orjson.OPT_APPEND_NEWLINE


def _may_hold(segment: Path, since: datetime | None) -> bool:
    """Whether `segment` may hold a record answered at or after `since`: a Parquet
    segment's footer says when its newest record was answered (older segments, written
    before it did, are read)."""
    if since is None or segment.suffix != PARQUET:
        return True
    metadata = pq.read_schema(segment).metadata or {}
    last = metadata.get(_LAST_ANSWERED)
    return last is None or datetime.fromisoformat(last.decode()) >= since


def _records(segment: Path) -> list[dict[str, Any]]:
    if segment.suffix == PARQUET:
        return pq.read_table(segment).to_pylist()
    data = segment.read_bytes()
    complete = data[: data.rfind(b"\n") + 1]  # a torn last line is not a record
    return [orjson.loads(line) for line in complete.splitlines() if line and _live(line)]


def _live(line: bytes) -> bool:
    """Whether a JSON line is a record, not an erased one's tombstone (`predlog.erase`)."""
    return not line.startswith(TOMBSTONE)


def _count(segment: Path) -> int:
    if segment.suffix == PARQUET:
        return int(pq.ParquetFile(segment).metadata.num_rows)
    data = segment.read_bytes()
    erased = data.count(b"\n" + TOMBSTONE) + data.startswith(TOMBSTONE)
    return data.count(b"\n") - erased


def _retrying(read: Callable[[], T], attempts: int = 5) -> T:
    """`read()`, again if a segment vanished under it (compacted by another process)."""
    for _ in range(attempts - 1):
        try:
            return read()
        except FileNotFoundError:
            continue
    return read()


def readable_segments(folder: Path) -> list[Path]:
    """One writer's segments in write order, skipping a JSON-lines file whose Parquet twin
    (its compacted copy, holding the same records in the same order) is complete."""
    segments = segments_in(folder)
    done = {segment_number(p) for p in segments if p.suffix == PARQUET}
    return [p for p in segments if p.suffix == PARQUET or segment_number(p) not in done]


def segments_in(folder: Path) -> list[Path]:
    found = [*folder.glob(f"{_PREFIX}*{JSONL}"), *folder.glob(f"{_PREFIX}*{PARQUET}")]
    return sorted(found, key=lambda p: (segment_number(p), p.suffix == JSONL))


def segment_number(path: Path) -> int:
    return int(path.name[len(_PREFIX) :].split(".")[0])


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _fsync_dir(folder: Path) -> None:
    directory = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def _compact(segment: Path) -> None:
    """Rewrite a full JSON-lines segment as Parquet, then remove it. Nested values (inputs,
    features) become Arrow structs; records Arrow cannot type consistently stay as they are."""
    target = segment.with_suffix(PARQUET)
    if target.exists():  # a crash came between the rename and the removal
        segment.unlink()
        return
    # Parsed in Python, not by Arrow's JSON reader: that one would turn ISO time strings
    # into zone-less timestamps. (It runs in a child process: see `_start_compaction`.)
    try:
        records = _records(segment)
        # Column by column: `from_pylist` would take its columns from the first record
        # alone and drop a field only later ones have (a reject's `rejected`, say).
        names = dict.fromkeys(k for r in records for k in r)
        table = pa.table({k: pa.array([r.get(k) for r in records]) for k in names})
        # An object empty in every record ("features": {} without a feature store) has no
        # fields for Parquet to hold: it is left out, and read back as missing.
        empty = [f.name for f in table.schema if pa.types.is_struct(f.type) and not f.type]
        _write_parquet(table.drop_columns(empty), target)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError) as exc:
        logger.warning("prediction log: %s stays JSON lines (%s)", segment.name, exc)
        return
    segment.unlink()
    _fsync_dir(segment.parent)


def _write_parquet(table: pa.Table, target: Path) -> None:
    """`table` at `target`, complete and durable or not there at all, its footer saying
    when its newest record was answered (see `_may_hold`)."""
    partial = target.with_suffix(".parquet.partial")
    if "timestamp" in table.column_names:
        answered = pd.to_datetime(table["timestamp"].to_pandas(), utc=True, format="ISO8601")
        if answered.notna().any():
            last = answered.max().isoformat().encode()
            table = table.replace_schema_metadata(
                {**(table.schema.metadata or {}), _LAST_ANSWERED: last}
            )
    pq.write_table(table, partial, compression="zstd")
    with partial.open("rb") as f:
        os.fsync(f.fileno())
    partial.replace(target)
    _fsync_dir(target.parent)


def _cut_torn_tail(fd: int) -> int:
    """Truncate after the last newline; returns the size kept."""
    size = os.lseek(fd, 0, os.SEEK_END)
    keep = size
    while keep > 0:
        start = max(0, keep - (1 << 16))
        block = os.pread(fd, keep - start, start)
        newline = block.rfind(b"\n")
        if newline >= 0:
            keep = start + newline + 1
            break
        keep = start
    if keep != size:
        os.ftruncate(fd, keep)
        os.fsync(fd)
    return keep


# The compaction child lowers itself to SCHED_IDLE from its first import on: it runs only
# when the server leaves the core idle and yields the moment a request arrives, so a
# server sharing its core answers as if it were not there. (Elsewhere: the lowest nice.)
_COMPACTOR = (
    "import os, runpy, sys\n"
    "try: os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))\n"
    "except (AttributeError, OSError): os.nice(19) if hasattr(os, 'nice') else None\n"
    "sys.argv = sys.argv[1:]\n"
    "runpy.run_path(sys.argv[0], run_name='__main__')\n"
)

if __name__ == "__main__":  # the compaction child: python predlog.py SEGMENT...
    for argument in sys.argv[1:]:
        _compact(Path(argument))
