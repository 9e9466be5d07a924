"""Tests for media.storage.LocalMediaStorage and content-addressed keys."""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

import pytest

import media.storage as storage_mod
from media.storage import InvalidMediaKey, LocalMediaStorage, MediaNotFound, MediaStorage, key_for
from models.errors import NotFound, ValidationError

SHA = hashlib.sha256(b"basket of tea").hexdigest()


@pytest.fixture
def store(tmp_path: Path) -> LocalMediaStorage:
    return LocalMediaStorage(tmp_path / "media")


def test_key_for_fans_out_by_hash() -> None:
    assert key_for(SHA, "jpg") == f"{SHA[:2]}/{SHA[2:4]}/{SHA}.jpg"
    assert key_for(SHA.upper(), ".JPG") == key_for(SHA, "jpg")
    assert key_for(SHA, "thumb.jpg").endswith(f"{SHA}.thumb.jpg")


@pytest.mark.parametrize(("digest", "suffix"), [("abc", "jpg"), ("g" * 64, "jpg"), (SHA, "../x"), (SHA, "")])
def test_key_for_rejects_bad_input(digest: str, suffix: str) -> None:
    with pytest.raises(InvalidMediaKey):
        key_for(digest, suffix)


def test_local_storage_satisfies_protocol(store: LocalMediaStorage) -> None:
    assert isinstance(store, MediaStorage)


def test_put_get_exists_delete(store: LocalMediaStorage) -> None:
    key = key_for(SHA, "jpg")
    assert not store.exists(key)
    assert store.put(key, b"jpeg bytes", "image/jpeg") == key
    assert store.exists(key)
    assert store.get(key) == b"jpeg bytes"
    assert (store.root / SHA[:2] / SHA[2:4] / f"{SHA}.jpg").read_bytes() == b"jpeg bytes"
    store.put(key, b"replaced", "image/jpeg")
    assert store.get(key) == b"replaced"
    store.delete(key)
    assert not store.exists(key)
    store.delete(key)  # idempotent


def test_get_missing_raises_not_found(store: LocalMediaStorage) -> None:
    with pytest.raises(MediaNotFound) as info:
        store.get(key_for(SHA, "jpg"))
    assert isinstance(info.value, NotFound)
    assert info.value.http_status == 404
    store.put(key_for(SHA, "jpg"), b"x", "image/jpeg")
    with pytest.raises(MediaNotFound):
        store.get(SHA[:2])  # a directory is not a stored object
    assert not store.exists(SHA[:2])


@pytest.mark.parametrize(
    "key",
    [
        "../escape.jpg",
        "ab/../../escape.jpg",
        "ab/./c.jpg",
        "/etc/passwd",
        "ab//c.jpg",
        "ab/c.jpg/",
        "",
        "..",
        ".hidden",
        "ab/.tmp-123",
        "ab\\..\\c.jpg",
        "C:/windows/x",
        "ab/c\x00.jpg",
        "ab/" + "x" * 600,
    ],
)
def test_traversal_and_odd_keys_rejected(store: LocalMediaStorage, key: str) -> None:
    for op in (lambda: store.put(key, b"x", "image/jpeg"), lambda: store.get(key), lambda: store.exists(key)):
        with pytest.raises(InvalidMediaKey) as info:
            op()
        assert isinstance(info.value, ValidationError)
        assert info.value.code == "MEDIA_KEY_INVALID"
    with pytest.raises(InvalidMediaKey):
        store.delete(key)
    assert not (store.root.parent / "escape.jpg").exists()


def test_symlink_out_of_root_rejected(store: LocalMediaStorage, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (store.root / "ab").symlink_to(outside, target_is_directory=True)
    with pytest.raises(InvalidMediaKey):
        store.put("ab/evil.jpg", b"x", "image/jpeg")
    assert list(outside.iterdir()) == []


def test_write_is_atomic_rename_of_complete_temp_file(
    store: LocalMediaStorage, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = key_for(SHA, "jpg")
    final = store.path_for(key)
    seen: list[tuple[str, bytes, bool]] = []
    real_replace = os.replace

    def spying_replace(src: str, dst: os.PathLike[str]) -> None:
        # At rename time the temp file is complete, beside the target, and the target is not yet there.
        seen.append((Path(src).parent.name, Path(src).read_bytes(), Path(dst).exists()))
        real_replace(src, dst)

    monkeypatch.setattr(storage_mod.os, "replace", spying_replace)
    store.put(key, b"full photo", "image/jpeg")
    assert seen == [(final.parent.name, b"full photo", False)]
    assert stat.S_IMODE(final.stat().st_mode) == 0o644


def test_failed_write_keeps_old_file_and_leaves_no_temp(
    store: LocalMediaStorage, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = key_for(SHA, "jpg")
    store.put(key, b"old photo", "image/jpeg")

    def failing_replace(src: str, dst: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(storage_mod.os, "replace", failing_replace)
    with pytest.raises(OSError, match="disk full"):
        store.put(key, b"new photo", "image/jpeg")
    monkeypatch.undo()
    assert store.get(key) == b"old photo"
    assert [p.name for p in store.path_for(key).parent.iterdir()] == [f"{SHA}.jpg"]
