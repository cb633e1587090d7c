"""An append-only, fsync'ed log of every answered prediction, in JSON-lines segments.

`append` returns only once the records are on disk, so a prediction whose response was
sent survives a crash of the process right after. A record torn by a crash mid-write was
never acknowledged; reopening the log cuts it off, so later records are never glued to it.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, BinaryIO

import pandas as pd

_PREFIX = "predictions-"
_SUFFIX = ".jsonl"


class PredictionLog:
    """Durable prediction records under `folder`."""

    def __init__(self, folder: Path, *, segment_bytes: int = 64 << 20) -> None:
        self.folder = folder
        self.segment_bytes = segment_bytes
        self._lock = threading.Lock()
        self._file: BinaryIO | None = None  # opened on first append: readers hold no handle

    def segments(self) -> list[Path]:
        return sorted(self.folder.glob(f"{_PREFIX}*{_SUFFIX}"))

    def append(self, records: Iterable[Mapping[str, Any]]) -> int:
        """Write `records` and fsync; returns how many were written."""
        lines = [json.dumps(r, default=str, separators=(",", ":")) + "\n" for r in records]
        data = "".join(lines).encode()
        with self._lock:
            file = self._file or self._open_for_append()
            if file.tell() and file.tell() + len(data) > self.segment_bytes:
                file.close()
                file = self._new_segment(self._seq(file) + 1)
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        return len(lines)

    def read(self) -> pd.DataFrame:
        """Every complete record, in write order."""
        rows: list[dict[str, Any]] = []
        for segment in self.segments():
            text = segment.read_text()
            complete = text[: text.rfind("\n") + 1]  # a torn last line is not a record
            rows.extend(json.loads(line) for line in complete.splitlines() if line)
        return pd.DataFrame(rows)

    def count(self) -> int:
        """How many complete records the log holds, without parsing them."""
        total = 0
        for segment in self.segments():
            with segment.open("rb") as f:
                while chunk := f.read(1 << 20):
                    total += chunk.count(b"\n")
        return total

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None

    def __enter__(self) -> PredictionLog:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _open_for_append(self) -> BinaryIO:
        segments = self.segments()
        if not segments:
            self.folder.mkdir(parents=True, exist_ok=True)
            return self._new_segment(0)
        self._file = segments[-1].open("r+b")
        _cut_torn_tail(self._file)
        return self._file

    def _new_segment(self, seq: int) -> BinaryIO:
        self._file = (self.folder / f"{_PREFIX}{seq:06d}{_SUFFIX}").open("ab")
        # The new file's name must be durable too, or a crash could lose the whole segment.
        directory = os.open(self.folder, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)
        return self._file

    @staticmethod
    def _seq(file: BinaryIO) -> int:
        return int(Path(file.name).name[len(_PREFIX) : -len(_SUFFIX)])


def _cut_torn_tail(file: BinaryIO) -> None:
    """Truncate after the last newline and leave the position at the end."""
    size = file.seek(0, os.SEEK_END)
    keep = size
    while keep > 0:
        start = max(0, keep - (1 << 16))
        file.seek(start)
        block = file.read(keep - start)
        newline = block.rfind(b"\n")
        if newline >= 0:
            keep = start + newline + 1
            break
        keep = start
    if keep != size:
        file.truncate(keep)
        file.flush()
        os.fsync(file.fileno())
    file.seek(keep)
