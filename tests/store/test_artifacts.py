import hashlib
import uuid

import pytest

from prodml.errors import IntegrityError, NotFoundError
from prodml.store import ArtifactStore


@pytest.fixture(params=["local", "memory"])
def store(request, tmp_path):
    """The local folder (the default) and an fsspec URL, through the same code."""
    if request.param == "local":
        return ArtifactStore(str(tmp_path / "artifacts"))
    return ArtifactStore(f"memory://prodml-test-{uuid.uuid4().hex}")


def test_round_trip_returns_the_bytes_and_their_sha256(store):
    ref = store.put_bytes("models/a/model.txt", b"tree")
    assert ref.sha256 == hashlib.sha256(b"tree").hexdigest()
    assert ref.size == 4
    assert store.get_bytes("models/a/model.txt") == b"tree"


def test_put_file_streams_a_local_file(store, tmp_path):
    source = tmp_path / "big.bin"
    source.write_bytes(b"x" * (3 << 20))
    ref = store.put_file("blobs/big.bin", source)
    assert ref.size == 3 << 20
    assert store.get_bytes("blobs/big.bin") == source.read_bytes()


def test_modified_bytes_are_refused_never_loaded(store):
    store.put_bytes("snap.parquet", b"original")
    store.fs.pipe_file(f"{store.root}/snap.parquet", b"tampered")
    with pytest.raises(IntegrityError, match=r"corrupted or was modified.*Refusing to load"):
        store.get_bytes("snap.parquet")


def test_an_artifact_without_a_recorded_hash_is_refused(store):
    store.fs.makedirs(store.root, exist_ok=True)
    store.fs.pipe_file(f"{store.root}/orphan.bin", b"?")
    with pytest.raises(IntegrityError, match="no recorded SHA-256"):
        store.get_bytes("orphan.bin")


def test_missing_artifact_is_not_found(store):
    with pytest.raises(NotFoundError, match="No artifact 'nope'"):
        store.get_bytes("nope")


def test_a_new_store_creates_nothing_until_written(tmp_path):
    ArtifactStore(str(tmp_path / "artifacts"))
    assert not (tmp_path / "artifacts").exists()


def test_no_temporary_files_are_left_behind(store):
    store.put_bytes("a/b.bin", b"1")
    assert sorted(p.rsplit("/", 1)[-1] for p in store.fs.ls(f"{store.root}/a", detail=False)) == [
        "b.bin",
        "b.bin.sha256",
    ]


@pytest.mark.parametrize("key", ["../escape", "/etc/passwd", "a/../../b"])
def test_keys_cannot_escape_the_store(store, key):
    with pytest.raises(ValueError, match="relative paths"):
        store.put_bytes(key, b"")
