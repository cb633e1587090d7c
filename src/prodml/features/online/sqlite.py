"""The embedded online store: one SQLite table per feature view, keyed by entity key."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from prodml.features.definitions import FeatureView
from prodml.features.online._codec import decode, encode, from_micros, key_text, micros


class SqliteOnlineStore:
    def __init__(self, url: str) -> None:
        path = Path(url.removeprefix("sqlite:///"))
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")  # WAL: durable at checkpoints, fast
        self._lock = threading.Lock()
        self._tables: set[str] = set()

    def write(
        self, view: FeatureView, rows: Sequence[tuple[Any, datetime, Mapping[str, Any]]]
    ) -> int:
        table = self._table(view)
        payload = [(key_text(k), micros(ts), encode(dict(values))) for k, ts, values in rows]
        with self._lock:
            self._db.execute("BEGIN")
            # Newest wins: an older row (late or replayed) never overwrites a newer one.
            self._db.executemany(
                f'INSERT INTO "{table}" (key, ts, features) VALUES (?, ?, ?) '  # noqa: S608
                "ON CONFLICT(key) DO UPDATE SET ts = excluded.ts, features = excluded.features "
                "WHERE excluded.ts >= ts",
                payload,
            )
            self._db.execute("COMMIT")
        return len(payload)

    def read(
        self, view: FeatureView, keys: Sequence[Any]
    ) -> list[tuple[datetime, dict[str, Any]] | None]:
        table = self._table(view)
        texts = [key_text(k) for k in keys]
        found: dict[str, tuple[datetime, dict[str, Any]]] = {}
        with self._lock:
            for start in range(0, len(texts), 500):  # SQLite's bound-parameter limit
                part = texts[start : start + 500]
                marks = ",".join("?" * len(part))
                query = f'SELECT key, ts, features FROM "{table}" WHERE key IN ({marks})'  # noqa: S608
                for key, ts, features in self._db.execute(query, part):
                    found[key] = (from_micros(ts), decode(features))
        return [found.get(t) for t in texts]

    def materialized_until(self, view: FeatureView) -> datetime | None:
        with self._lock:
            self._watermarks()
            row = self._db.execute(
                "SELECT until FROM watermarks WHERE view = ? AND version = ?",
                (view.name, view.version),
            ).fetchone()
        return None if row is None else from_micros(row[0])

    def set_materialized_until(self, view: FeatureView, until: datetime) -> None:
        with self._lock:
            self._watermarks()
            self._db.execute(
                "INSERT INTO watermarks (view, version, until) VALUES (?, ?, ?) ON CONFLICT(view) "
                "DO UPDATE SET version = excluded.version, until = excluded.until",
                (view.name, view.version, micros(until)),
            )

    def close(self) -> None:
        self._db.close()

    def _watermarks(self) -> None:
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS watermarks "
            "(view TEXT PRIMARY KEY, version TEXT NOT NULL, until INTEGER NOT NULL)"
        )

    def _table(self, view: FeatureView) -> str:
        name = f"fv_{view.name}"
        if name not in self._tables:
            with self._lock:
                self._db.execute(
                    f'CREATE TABLE IF NOT EXISTS "{name}" '
                    "(key TEXT PRIMARY KEY, ts INTEGER NOT NULL, features TEXT NOT NULL)"
                )
            self._tables.add(name)
        return name
