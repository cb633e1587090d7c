"""Ship a prediction log to NATS JetStream, the production sink, record by record in order.

The server writes its log locally first (fast, and durable against a ``kill -9``); this
shipper tails it, as a sidecar or a cron job would, and publishes each record to
``<prefix>.<model>.log``. Where it got to is a cursor file per writer folder (segment
number and record index), saved after JetStream acknowledged the records, so a restarted
shipper resumes where it stopped. Each message carries ``Nats-Msg-Id`` =
``<writer>/<segment>/<index>``: records shipped again after a crash between the
acknowledgement and the cursor's save are stored once (within the stream's duplicate
window). Compaction keeps a segment's records and their order, so a cursor in a JSON-lines
segment stays valid in its Parquet copy.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pyarrow.parquet as pq

from prodml.predlog import PARQUET, PredictionLog, readable_segments, segment_number
from prodml.serve.stream.nats import connect_jetstream

CURSOR_FILE = ".shipped"


@dataclass(frozen=True)
class Cursor:
    """The next record to ship: segment number and index within it."""

    segment: int = 0
    record: int = 0


class JetStreamSink:
    """Publishes log records to `subject`; when no stream holds it, creates one that keeps
    records `max_age_days` (a warehouse loader reads them well within that)."""

    def __init__(self, url: str, subject: str, *, max_age_days: float = 7.0) -> None:
        self.url = url
        self.subject = subject
        self.max_age_days = max_age_days  # for a stream this sink creates, not an operator's
        self._nc: Any = None
        self._js: Any = None

    async def open(self) -> None:
        self._nc, self._js = await connect_jetstream(self.url)
        from nats.js.errors import NotFoundError

        try:
            await self._js.find_stream_name_by_subject(self.subject)
        except NotFoundError:
            name = re.sub(r"[^A-Za-z0-9_-]", "_", self.subject).upper()
            await self._js.add_stream(
                name=name, subjects=[self.subject], max_age=self.max_age_days * 86400
            )

    async def publish(self, messages: list[tuple[str, bytes]]) -> None:
        """Publish `messages` (id, body) pipelined; returns once JetStream stored them all."""
        futures = [
            await self._js.publish_async(self.subject, body, headers={"Nats-Msg-Id": msg_id})
            for msg_id, body in messages
        ]
        await asyncio.gather(*futures)

    async def close(self) -> None:
        if self._nc is not None:
            await self._nc.drain()
            self._nc = None


class LogShipper:
    """Copies what `log` holds and has not shipped yet to `sink`, in order, resumably."""

    def __init__(self, log: PredictionLog, sink: JetStreamSink, *, batch: int = 1000) -> None:
        if batch < 1:
            raise ValueError(f"batch must be at least 1. Got {batch} instead.")
        self.log = log
        self.sink = sink
        self.batch = batch
        # Where a live JSON-lines segment's next record starts, so a tail reads only news.
        self._offsets: dict[tuple[Path, int, int], int] = {}

    async def ship(self) -> int:
        """Ship every complete record not shipped yet; returns how many were shipped."""
        shipped = 0
        for folder in self.log.writer_folders():
            for _ in range(5):  # a segment compacted under us vanishes: list again
                try:
                    shipped += await self._ship_folder(folder)
                    break
                except FileNotFoundError:
                    continue
        return shipped

    async def follow(self, interval: float, stop: asyncio.Event) -> int:
        """Ship, then ship what arrives every `interval` seconds, until `stop` is set."""
        total = 0
        while not stop.is_set():
            total += await self.ship()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), interval)
        return total

    async def _ship_folder(self, folder: Path) -> int:
        cursor = read_cursor(folder)
        shipped = 0
        for segment in readable_segments(folder):
            number = segment_number(segment)
            if number < cursor.segment:
                continue
            start = cursor.record if number == cursor.segment else 0
            for first, bodies in self._records(folder, segment, start):
                await self.sink.publish(
                    [(f"{folder.name}/{number}/{first + i}", body) for i, body in enumerate(bodies)]
                )
                cursor = Cursor(number, first + len(bodies))
                _write_cursor(folder, cursor)
                shipped += len(bodies)
        return shipped

    def _records(
        self, folder: Path, segment: Path, start: int
    ) -> Iterator[tuple[int, list[bytes]]]:
        """Batches of (index of the first, JSON bodies) from record `start` on."""
        if segment.suffix == PARQUET:
            index = 0
            for batch in pq.ParquetFile(segment).iter_batches(batch_size=self.batch):
                rows = batch.to_pylist()
                if index + len(rows) > start:
                    skip = max(0, start - index)
                    yield index + skip, [orjson.dumps(r, default=str) for r in rows[skip:]]
                index += len(rows)
            return
        number = segment_number(segment)
        offset = self._offsets.pop((folder, number, start), None)
        with segment.open("rb") as f:
            if offset is None:  # count lines up to `start`
                offset = 0
                for _ in range(start):
                    line = f.readline()
                    if not line.endswith(b"\n"):
                        return  # fewer complete records than the cursor says: nothing new
                    offset += len(line)
            f.seek(offset)
            data = f.read()
        lines = data[: data.rfind(b"\n") + 1].splitlines()  # a torn last line waits
        index = start
        for i in range(0, len(lines), self.batch):
            bodies = lines[i : i + self.batch]
            yield index, bodies
            index += len(bodies)
            offset += sum(len(b) + 1 for b in bodies)
        self._offsets[(folder, number, index)] = offset


def read_cursor(folder: Path) -> Cursor:
    """Where shipping of one writer's folder got to (the start, if it never shipped)."""
    path = folder / CURSOR_FILE
    if not path.exists():
        return Cursor()
    saved = orjson.loads(path.read_bytes())
    return Cursor(int(saved["segment"]), int(saved["record"]))


def _write_cursor(folder: Path, cursor: Cursor) -> None:
    partial = folder / (CURSOR_FILE + ".partial")
    partial.write_bytes(orjson.dumps({"segment": cursor.segment, "record": cursor.record}))
    os.replace(partial, folder / CURSOR_FILE)  # never a half-written cursor
