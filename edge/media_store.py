"""Evidence files (snapshots, clips), named by the SHA-256 of their bytes, under a size cap.

Content addressing makes every write idempotent and lets the central service check what
it receives; the cap keeps a box that runs unattended for months from filling its disk:
the oldest evidence goes first, never the file just stored.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import tempfile
import threading
from collections import OrderedDict
from pathlib import Path

import structlog

from contract.event import MediaKind, MediaRef

log = structlog.get_logger(__name__)

_SUFFIXES = {"image/jpeg": ".jpg", "video/mp4": ".mp4"}
_NAME = re.compile(r"^[0-9a-f]{64}\.(jpg|mp4)$")
_TMP_PREFIX = ".tmp-"
_CHUNK = 1 << 20


class MediaStore:
    """Thread-safe: every camera's pipeline stores into one instance."""

    def __init__(self, root: Path, max_bytes: int) -> None:
        if max_bytes <= 0:
            raise ValueError(f"MediaStore max_bytes is {max_bytes}; expected a positive size in bytes")
        self.root = root
        self.max_bytes = max_bytes
        root.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._files = self._scan()
        self._total = sum(size for _, size in self._files.values())
        log.info("media store opened", root=str(root), files=len(self._files), bytes=self._total)

    def put_bytes(self, data: bytes, kind: MediaKind, content_type: str, label: str | None = None) -> MediaRef:
        """Store a snapshot; a crash mid-write leaves only a temp file, never a torn one."""
        sha256 = hashlib.sha256(data).hexdigest()
        dest = self._dest(sha256, content_type)
        with tempfile.NamedTemporaryFile(dir=self.root, prefix=_TMP_PREFIX, delete=False) as tmp:
            tmp.write(data)
            tmp.flush()
            os.fsync(tmp.fileno())
        return self._install(Path(tmp.name), dest, _ref(kind, sha256, len(data), content_type, label))

    def put_file(self, path: Path, kind: MediaKind, content_type: str, label: str | None = None) -> MediaRef:
        """Move a finished file (a clip) in; the source path is gone afterwards."""
        sha256, size = _hash_file(path)
        dest = self._dest(sha256, content_type)
        ref = _ref(kind, sha256, size, content_type, label)
        if path.stat().st_dev == self.root.stat().st_dev:
            with path.open("rb") as source:
                os.fsync(source.fileno())
            return self._install(path, dest, ref)
        staged = self._copy_here(path)  # a rename cannot cross file systems
        stored = self._install(staged, dest, ref)
        path.unlink()
        return stored

    def path_of(self, sha256: str) -> Path | None:
        with self._lock:
            entry = self._files.get(sha256)
        if entry is None or not entry[0].exists():
            return None
        return entry[0]

    @property
    def total_bytes(self) -> int:
        with self._lock:
            return self._total

    def _dest(self, sha256: str, content_type: str) -> Path:
        suffix = _SUFFIXES.get(content_type)
        if suffix is None:
            raise ValueError(f"media content type '{content_type}' is not one of {', '.join(_SUFFIXES)}")
        return self.root / f"{sha256}{suffix}"

    def _copy_here(self, path: Path) -> Path:
        with path.open("rb") as source, tempfile.NamedTemporaryFile(
            dir=self.root, prefix=_TMP_PREFIX, delete=False
        ) as tmp:
            shutil.copyfileobj(source, tmp, _CHUNK)
            tmp.flush()
            os.fsync(tmp.fileno())
        return Path(tmp.name)

    def _install(self, staged: Path, dest: Path, ref: MediaRef) -> MediaRef:
        """Rename into place and index under one lock, so eviction never races a put.

        Storing content that is already here replaces it with identical bytes and makes it
        the newest again.
        """
        with self._lock:
            os.replace(staged, dest)
            _fsync_dir(self.root)
            previous = self._files.pop(ref.sha256, None)
            self._total += ref.bytes - (previous[1] if previous else 0)
            self._files[ref.sha256] = (dest, ref.bytes)
            self._evict()
        return ref

    def _evict(self) -> None:
        """Oldest first until under the cap; the newest file always stays, even alone over it."""
        while self._total > self.max_bytes and len(self._files) > 1:
            sha256, (path, size) = self._files.popitem(last=False)
            self._total -= size
            path.unlink(missing_ok=True)
            log.info("evidence evicted for space", sha256=sha256, bytes=size, max_bytes=self.max_bytes)

    def _scan(self) -> OrderedDict[str, tuple[Path, int]]:
        found: list[tuple[float, str, Path, int]] = []
        for path in self.root.iterdir():
            if path.name.startswith(_TMP_PREFIX):
                path.unlink(missing_ok=True)  # a write that a crash interrupted
            elif _NAME.match(path.name):
                stat = path.stat()
                found.append((stat.st_mtime, path.stem, path, stat.st_size))
        found.sort()
        return OrderedDict((sha256, (path, size)) for _, sha256, path, size in found)


def _ref(kind: MediaKind, sha256: str, size: int, content_type: str, label: str | None) -> MediaRef:
    return MediaRef.model_validate(
        {"kind": kind, "sha256": sha256, "bytes": size, "content_type": content_type, "label": label}
    )


def _hash_file(path: Path) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as source:
        while chunk := source.read(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def _fsync_dir(path: Path) -> None:
    """A rename is durable only once the directory entry itself reaches the disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
