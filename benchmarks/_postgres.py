"""A fresh schema on the benchmarks' PostgreSQL (127.0.0.1:5432, or TEST_POSTGRES_URL),
dropped afterwards; None when there is no server, said on stderr."""

from __future__ import annotations

import contextlib
import os
import sys
import uuid
from collections.abc import Iterator

SERVER = os.environ.get("TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


@contextlib.contextmanager
def fresh_schema(what: str) -> Iterator[str | None]:
    """A metadata URL whose tables land in a new schema (None: `what` is skipped)."""
    from sqlalchemy import create_engine, text

    schema = f"bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(SERVER)
    try:
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    except Exception as exc:
        print(f"… {what} skipped: no PostgreSQL at {SERVER} ({exc})", file=sys.stderr)
        admin.dispose()
        yield None
        return
    try:
        yield f"{SERVER}?options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()
