"""SHA-256 of files and folders, and manifests that let a folder be verified before use."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from pathlib import Path
from typing import BinaryIO

from prodml.errors import IntegrityError

MANIFEST = "manifest.json"
_CHUNK = 1 << 20


def sha256_stream(stream: BinaryIO) -> str:
    digest = hashlib.sha256()
    while chunk := stream.read(_CHUNK):
        digest.update(chunk)
    return digest.hexdigest()


def sha256_file(path: Path) -> str:
    with path.open("rb") as stream:
        return sha256_stream(stream)


def write_manifest(folder: Path) -> dict[str, str]:
    """Write `manifest.json` with the SHA-256 of every other file under `folder`."""
    files = {
        str(p.relative_to(folder)): sha256_file(p)
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name != MANIFEST
    }
    (folder / MANIFEST).write_text(json.dumps({"sha256": files}, indent=2, sort_keys=True))
    return files


def verify_manifest(folder: Path, *, what: str) -> None:
    """Raise `IntegrityError` unless every file listed in the manifest has its recorded hash.

    `what` names the artifact in the message (e.g. "model churn v3").
    """
    path = folder / MANIFEST
    if not path.exists():
        raise IntegrityError(
            f"{what}: no {MANIFEST} in {folder}, so its files cannot be verified. "
            "It was not written by prodml, or was copied incompletely; register it again."
        )
    expected: dict[str, str] = json.loads(path.read_text())["sha256"]
    bad = list(_mismatches(folder, expected.items()))
    if bad:
        raise IntegrityError(
            f"{what}: {'; '.join(bad)} in {folder}. The files changed after they were "
            "written; refusing to load them. Restore them or register the model again."
        )


def _mismatches(folder: Path, expected: Iterable[tuple[str, str]]) -> Iterable[str]:
    for name, digest in expected:
        path = folder / name
        if not path.exists():
            yield f"{name} is missing"
        elif (actual := sha256_file(path)) != digest:
            yield f"{name} has SHA-256 {actual[:12]}…, expected {digest[:12]}…"
