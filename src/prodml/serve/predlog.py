"""An append-only, fsync'ed log of every answered prediction, in JSON-lines segments.

`append` returns only once the records are on disk, so a prediction whose response was
sent survives a crash of the process right after. Segments rotate at a size limit; a
line torn by a crash mid-write is skipped on read, never mistaken for data.
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
        folder.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        segments = self.segments()
        self._seq = int(segments[-1].name[len(_PREFIX) : -len(_SUFFIX)]) if segments else 0
        self._file: BinaryIO | None = None  # opened on first append: readers hold no handle

    def segments(self) -> list[Path]:
        return sorted(self.folder.glob(f"{_PREFIX}*{_SUFFIX}"))

    def append(self, records: Iterable[Mapping[str, Any]]) -> int:
        """Write `records` and fsync; returns how many were written."""
        lines = [json.dumps(r, default=str, separators=(",", ":")) + "\n" for r in records]
        data = "".join(lines).encode()
        with self._lock:
            file = self._file or self._open_segment()
            if file.tell() and file.tell() + len(data) > self.segment_bytes:
                file.close()
                self._seq += 1
                file = self._open_segment()
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

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None

    def __enter__(self) -> PredictionLog:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _open_segment(self) -> BinaryIO:
        self._file = (self.folder / f"{_PREFIX}{self._seq:06d}{_SUFFIX}").open("ab")
        return self._file
