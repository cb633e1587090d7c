"""Every error prodml raises on purpose, under one root.

Each message says what was wrong, where (file, key, column, row, field) and what to do.
Each class knows the HTTP status the API answers with, so one handler maps them all::

    ProdmlError                      500  root; never raised directly
    ├── ConfigError                  400  settings or arguments are malformed, unknown or invalid
    ├── StoreError                   503  a store cannot be used
    │   ├── StoreUnavailableError    503  the database or folder cannot be reached
    │   └── SchemaVersionError       409  the workspace was written by a newer prodml
    ├── NotFoundError                404  a snapshot, run, model or alias does not exist
    ├── StateError                   409  the thing exists, but not in a state that allows this
    ├── IntegrityError               409  stored bytes do not match their recorded SHA-256
    ├── SourceError                  422  a source cannot be read (missing, corrupt, malformed)
    ├── DataValidationError          422  a batch of data breaks its contract
    │   └── BatchRejected            422  ... so badly that none of it is kept (has `report`)
    ├── TrainingError                422  a model cannot be trained (bad label, a step failed)
    ├── InputError                   422  a prediction request is malformed (field-level detail)
    ├── ServingError                 503  a model cannot answer (smoke test, compiler, engine)
    ├── AuthError                    401  no usable token (missing, malformed, expired, revoked)
    ├── ForbiddenError               403  the token's role or model scope does not allow this
    └── RateLimitedError             429  too many failed sign-ins from one client; wait

Errors of lower libraries (SQLAlchemy, MLflow, fsspec) are caught at the boundary of the
module that calls them and re-raised as one of these, with the original chained.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


class ProdmlError(Exception):
    """Root of every error prodml raises on purpose."""

    http_status: int = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ConfigError(ProdmlError):
    """Settings or arguments could not be used: a malformed file, an unknown key, an
    invalid value or option (a model reference, a column that is not there)."""

    http_status = 400


class StoreError(ProdmlError):
    """A metadata, artifact or tracking store cannot be used."""

    http_status = 503


class StoreUnavailableError(StoreError):
    """The database, folder or bucket behind a store cannot be reached."""


class SchemaVersionError(StoreError):
    """The workspace's schema is newer than this version of prodml understands."""

    http_status = 409


class NotFoundError(ProdmlError):
    """A named thing (snapshot, run, model version, alias) does not exist."""

    http_status = 404


class StateError(ProdmlError):
    """What was asked conflicts with the current state: an archived version promoted, a
    version archived while an alias still points at it."""

    http_status = 409


class IntegrityError(ProdmlError):
    """Stored bytes do not match the SHA-256 recorded when they were written."""

    http_status = 409


class SourceError(ProdmlError):
    """A file, query or frame cannot be read as a table; the message says where and why."""

    http_status = 422


class DataValidationError(ProdmlError):
    """A batch of data breaks its contract badly enough to be rejected whole."""

    http_status = 422


class BatchRejected(DataValidationError):
    """A batch failed as a whole; `report` (a `ValidationReport`) says why."""

    def __init__(self, message: str, report: Any) -> None:
        super().__init__(message)
        self.report = report


class TrainingError(ProdmlError):
    """A model cannot be trained: a missing or constant label, an empty split, a step that
    failed (the message names it)."""

    http_status = 422


class InputError(ProdmlError):
    """A prediction request is malformed; `errors` lists each bad field.

    Each entry is ``{"loc": [...], "msg": str, "type": str}``, the shape FastAPI uses, so
    clients parse one format whichever layer caught the problem.
    """

    http_status = 422

    def __init__(self, message: str, errors: Sequence[Mapping[str, Any]] = ()) -> None:
        super().__init__(message)
        self.errors = [dict(e) for e in errors]


class ServingError(ProdmlError):
    """A model cannot answer: it failed its smoke test, its trees would not compile, or the
    batch engine it was sent to is not there."""

    http_status = 503


class AuthError(ProdmlError):
    """No usable credentials: a token missing, malformed, unknown, expired or revoked."""

    http_status = 401


class ForbiddenError(ProdmlError):
    """Credentials that are valid but whose role (or model scope) does not allow this."""

    http_status = 403


class RateLimitedError(ProdmlError):
    """Too many failed attempts to authenticate from one client: it must wait
    `retry_after` seconds (brute force is slowed to a crawl, a person is told why)."""

    http_status = 429

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after
