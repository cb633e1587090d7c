"""Artifacts in a local folder or any fsspec URL, each with its SHA-256 checked on read.

Every object `key` is stored beside `key.sha256`. Reads recompute the hash and refuse
bytes that do not match: a corrupted or tampered artifact is an error, never a silent load.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from pathlib import Path

import fsspec
from fsspec.implementations.local import LocalFileSystem

from prodml.errors import ConfigError, IntegrityError, NotFoundError
from prodml.store.hashing import sha256_stream

_SUFFIX = ".sha256"


@dataclass(frozen=True)
class ArtifactRef:
    """Where an artifact was written and what its bytes hash to."""

    key: str
    uri: str
    sha256: str
    size: int


class ArtifactStore:
    """A folder of hash-checked objects addressed by relative keys like ``snapshots/ab12.parquet``.

    >>> store = ArtifactStore("memory://doctest")
    >>> ref = store.put_bytes("hello.txt", b"hi")
    >>> store.get_bytes("hello.txt")
    b'hi'
    """

    def __init__(self, url: str) -> None:
        try:
            self.fs, self.root = fsspec.core.url_to_fs(url)
        except (ImportError, ValueError) as exc:
            raise ConfigError(
                f"artifacts_url {url!r} cannot be used: {exc}. Use a local folder or an fsspec "
                "URL whose filesystem is installed (e.g. pip install 'prodml[s3]' for s3://)."
            ) from None
        self.url = url
        self.root = self.root.rstrip("/")  # created by the first write, not by looking

    @property
    def is_local(self) -> bool:
        return isinstance(self.fs, LocalFileSystem)

    def uri(self, key: str) -> str:
        path = self._path(key)
        return path if self.is_local else self.fs.unstrip_protocol(path)

    def put_bytes(self, key: str, data: bytes) -> ArtifactRef:
        tmp = self._tmp(key)
        self.fs.pipe_file(tmp, data)
        return self._publish(key, tmp, hashlib.sha256(data).hexdigest(), len(data))

    def put_file(self, key: str, source: Path) -> ArtifactRef:
        """Copy a local file in, hashing it on the way."""
        with source.open("rb") as stream:
            digest = sha256_stream(stream)
        tmp = self._tmp(key)
        self.fs.put_file(str(source), tmp)
        return self._publish(key, tmp, digest, source.stat().st_size)

    def delete(self, key: str) -> None:
        """Remove `key` and its recorded hash; missing ones are ignored."""
        for path in (self._path(key), self._path(key) + _SUFFIX):
            if self.fs.exists(path):
                self.fs.rm_file(path)

    def get_bytes(self, key: str) -> bytes:
        data = self._read(key)
        self._check(key, hashlib.sha256(data).hexdigest())
        return data

    def _publish(self, key: str, tmp: str, digest: str, size: int) -> ArtifactRef:
        # Data first, hash second: a crash in between leaves an object that fails to verify.
        self.fs.mv(tmp, self._path(key))
        self.fs.pipe_file(self._path(key) + _SUFFIX, digest.encode())
        return ArtifactRef(key=key, uri=self.uri(key), sha256=digest, size=size)

    def _read(self, key: str) -> bytes:
        if not self.fs.exists(self._path(key)):
            raise NotFoundError(f"No artifact {key!r} in {self.url}.")
        return self.fs.cat_file(self._path(key))

    def _check(self, key: str, actual: str) -> None:
        sidecar = self._path(key) + _SUFFIX
        if not self.fs.exists(sidecar):
            raise IntegrityError(
                f"Artifact {self.uri(key)} has no recorded SHA-256 ({_SUFFIX} file missing): "
                "it was written incompletely or not by prodml. Write it again."
            )
        expected = self.fs.cat_file(sidecar).decode().strip()
        if actual != expected:
            raise IntegrityError(
                f"Artifact {self.uri(key)} is corrupted or was modified: its SHA-256 is "
                f"{actual}, but {expected} was recorded when it was written. Refusing to load "
                "it; restore the file from a backup or recreate it."
            )

    def _path(self, key: str) -> str:
        if key.startswith("/") or ".." in Path(key).parts:
            raise ValueError(f"Artifact keys are relative paths without '..', got {key!r}.")
        return f"{self.root}/{key}"

    def _tmp(self, key: str) -> str:
        path = self._path(key)
        self.fs.makedirs(path.rsplit("/", 1)[0], exist_ok=True)
        return f"{path}.tmp-{uuid.uuid4().hex}"
