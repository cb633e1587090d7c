import pytest

from prodml.errors import IntegrityError
from prodml.store.hashing import MANIFEST, verify_manifest, write_manifest


@pytest.fixture
def folder(tmp_path):
    (tmp_path / "model.txt").write_text("tree")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "encoder.json").write_text("{}")
    write_manifest(tmp_path)
    return tmp_path


def test_an_untouched_folder_verifies(folder):
    verify_manifest(folder, what="model m v1")


def test_a_changed_file_is_named(folder):
    (folder / "sub" / "encoder.json").write_text('{"x": 1}')
    with pytest.raises(IntegrityError, match=r"model m v1: sub/encoder\.json has SHA-256"):
        verify_manifest(folder, what="model m v1")


def test_a_missing_file_is_named(folder):
    (folder / "model.txt").unlink()
    with pytest.raises(IntegrityError, match=r"model\.txt is missing"):
        verify_manifest(folder, what="model m v1")


def test_a_folder_without_manifest_is_refused(folder):
    (folder / MANIFEST).unlink()
    with pytest.raises(IntegrityError, match="cannot be verified"):
        verify_manifest(folder, what="model m v1")
