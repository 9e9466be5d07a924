"""Where processed photos live: a tiny storage protocol and a local-disk implementation."""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from pathlib import Path
from typing import Protocol, runtime_checkable

from models.errors import NotFound, ValidationError

__all__ = ["InvalidMediaKey", "LocalMediaStorage", "MediaNotFound", "MediaStorage", "key_for"]


class InvalidMediaKey(ValidationError):
    code = "MEDIA_KEY_INVALID"
    default_message = "文件路径不合法"


class MediaNotFound(NotFound):
    code = "MEDIA_NOT_FOUND"
    default_message = "找不到该照片文件"


@runtime_checkable
class MediaStorage(Protocol):
    """Byte storage addressed by slash-separated keys; backends may be local disk or object storage."""

    def put(self, key: str, data: bytes, content_type: str) -> str:
        """Store ``data`` under ``key`` (replacing any old value) and return the key."""
        ...

    def get(self, key: str) -> bytes:
        """Return the bytes stored under ``key`` or raise MediaNotFound."""
        ...

    def exists(self, key: str) -> bool:
        """Whether something is stored under ``key``."""
        ...

    def delete(self, key: str) -> None:
        """Remove ``key``; deleting a missing key is not an error."""
        ...


# Each segment starts with a letter or digit: rules out "", ".", "..", hidden files and our own temp files.
_SEGMENT_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
_MAX_KEY_LEN = 512
_SHA256_RE = re.compile(r"[0-9a-f]{64}")
_SUFFIX_RE = re.compile(r"[a-z0-9]{1,10}(\.[a-z0-9]{1,10}){0,2}")
_TMP_PREFIX = ".tmp-"


def key_for(sha256: str, suffix: str) -> str:
    """Content-addressed key "ab/cd/<sha256>.<suffix>"; two levels of fan-out keep directories small."""
    digest = sha256.lower()
    if not _SHA256_RE.fullmatch(digest):
        raise InvalidMediaKey(sha256=sha256)
    suffix = suffix.lower().lstrip(".")
    if not _SUFFIX_RE.fullmatch(suffix):
        raise InvalidMediaKey(suffix=suffix)
    return f"{digest[:2]}/{digest[2:4]}/{digest}.{suffix}"


def _split_key(key: str) -> list[str]:
    """Validate a key and return its segments; rejects traversal, absolute paths and odd characters."""
    if not isinstance(key, str) or not key or len(key) > _MAX_KEY_LEN:
        raise InvalidMediaKey(key=str(key)[:_MAX_KEY_LEN])
    # Backslashes and drive letters are refused by the segment pattern, which matters on Windows hosts too.
    parts = key.split("/")
    if not all(_SEGMENT_RE.fullmatch(part) for part in parts):
        raise InvalidMediaKey(key=key)
    return parts


class LocalMediaStorage:
    """MediaStorage on a local directory, with atomic writes so readers never see half a photo."""

    def __init__(self, root: Path) -> None:
        """Use (and create) ``root`` as the storage directory."""
        self.root = Path(root).resolve()
        self.root.mkdir(parents=True, exist_ok=True)

    def path_for(self, key: str) -> Path:
        """Filesystem path of ``key``, guaranteed to lie inside the root."""
        path = self.root.joinpath(*_split_key(key))
        # Segment checks stop "..", but a symlink planted inside the root could still point outside.
        if not path.resolve().is_relative_to(self.root):
            raise InvalidMediaKey(key=key)
        return path

    def put(self, key: str, data: bytes, content_type: str) -> str:
        """Write ``data`` atomically under ``key``; content_type is unused on local disk."""
        path = self.path_for(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        # Temp file in the same directory so os.replace is a same-filesystem atomic rename.
        fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=_TMP_PREFIX)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())  # evidence photos must survive a power cut after we say "saved"
            # mkstemp creates 0600; a separate static-file server needs to read the result.
            os.chmod(tmp_name, 0o644)
            os.replace(tmp_name, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp_name)
            raise
        _fsync_dir(path.parent)
        return key

    def get(self, key: str) -> bytes:
        """Return the stored bytes or raise MediaNotFound."""
        path = self.path_for(key)
        try:
            return path.read_bytes()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError) as exc:
            raise MediaNotFound(key=key) from exc

    def exists(self, key: str) -> bool:
        """Whether a file is stored under ``key``."""
        return self.path_for(key).is_file()

    def delete(self, key: str) -> None:
        """Remove ``key`` if present."""
        with contextlib.suppress(FileNotFoundError, NotADirectoryError):
            self.path_for(key).unlink()


def _fsync_dir(directory: Path) -> None:
    """Persist the rename itself; best effort because some platforms cannot open directories."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
