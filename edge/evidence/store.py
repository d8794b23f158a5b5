"""Evidence files (snapshots, clips), named by the SHA-256 of their bytes, under a size cap
and above a floor of free disk space.

Content addressing makes every write idempotent and lets the central service check what
it receives. Two limits keep a box that runs unattended for months from filling its disk:
``max_bytes`` of evidence, and ``min_free_bytes`` left free on the file system, whichever
bites first (the disk may be smaller than the cap, or shared). The floor is the outbox's room
to grow: an event matters more than its pictures. Room is made before a write, oldest
evidence first; evidence that could not fit even then is refused whole (``NoRoomForEvidence``)
without evicting anything in vain, and a write that fails midway leaves no temporary file.
"""

from __future__ import annotations

import errno
import hashlib
import os
import re
import shutil
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import IO

import structlog

from contract.event import MediaKind, MediaRef

log = structlog.get_logger(__name__)

_SUFFIXES = {"image/jpeg": ".jpg", "video/mp4": ".mp4"}
_NAME = re.compile(r"^[0-9a-f]{64}\.(jpg|mp4)$")
_TMP_PREFIX = ".tmp-"
_CHUNK = 1 << 20


class NoRoomForEvidence(OSError):
    """Evidence that does not fit even if every older file were evicted: refused, nothing evicted."""

    def __init__(self, message: str) -> None:
        super().__init__(errno.ENOSPC, message)


class MediaStore:
    """Thread-safe: every camera's pipeline stores into one instance; writes take turns, so the
    room made for one is not taken by another."""

    def __init__(self, root: Path, max_bytes: int, min_free_bytes: int = 0) -> None:
        if max_bytes <= 0:
            raise ValueError(f"MediaStore max_bytes is {max_bytes}; expected a positive size in bytes")
        if min_free_bytes < 0:
            raise ValueError(f"MediaStore min_free_bytes is {min_free_bytes}; expected 0 or more bytes")
        self.root = root
        self.max_bytes = max_bytes
        self.min_free_bytes = min_free_bytes
        root.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._writing = threading.Lock()
        self._files = self._scan()
        self._total = sum(size for _, size in self._files.values())
        log.info(
            "media store opened",
            root=str(root),
            files=len(self._files),
            bytes=self._total,
            free_bytes=self.free_bytes(),
            min_free_bytes=min_free_bytes,
        )

    def put_bytes(
        self, data: bytes, kind: MediaKind, content_type: str, label: str | None = None
    ) -> MediaRef:
        """Store a snapshot; a crash mid-write leaves only a temp file, never a torn one."""
        sha256 = hashlib.sha256(data).hexdigest()
        dest = self._dest(sha256, content_type)
        with self._writing:
            self._make_room(len(data))
            staged = self._stage(lambda out: out.write(data))
            return self._install(staged, dest, _ref(kind, sha256, len(data), content_type, label))

    def put_file(self, path: Path, kind: MediaKind, content_type: str, label: str | None = None) -> MediaRef:
        """Move a finished file (a clip) in; the source path is gone afterwards."""
        sha256, size = _hash_file(path)
        dest = self._dest(sha256, content_type)
        ref = _ref(kind, sha256, size, content_type, label)
        with self._writing:
            if path.stat().st_dev == self.root.stat().st_dev:  # its space is taken already
                with path.open("rb") as source:
                    os.fsync(source.fileno())
                stored = self._install(path, dest, ref)
                with self._lock:
                    self._evict(0, keep=1)
                return stored
            self._make_room(size)
            with path.open("rb") as source:  # a rename cannot cross file systems
                staged = self._stage(lambda out: shutil.copyfileobj(source, out, _CHUNK))
            stored = self._install(staged, dest, ref)
        path.unlink()
        return stored

    def free_up(self, wanted: int) -> bool:
        """Evict oldest evidence until ``wanted`` bytes (at least the floor) are free: the outbox
        asks when SQLite finds the disk full. False when there was nothing to evict."""
        with self._lock:
            had = len(self._files)
            while self._files and self.free_bytes() < max(wanted, self.min_free_bytes):
                self._evict_oldest("the outbox needs the space")
            return len(self._files) < had

    def free_bytes(self) -> int:
        """Free space on the store's file system, as an unprivileged writer sees it."""
        stat = os.statvfs(self.root)
        return stat.f_bavail * stat.f_frsize

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

    def _stage(self, write: Callable[[IO[bytes]], object]) -> Path:
        """A durable temporary file in the store, removed again if anything fails (ENOSPC)."""
        with tempfile.NamedTemporaryFile(dir=self.root, prefix=_TMP_PREFIX, delete=False) as tmp:
            try:
                write(tmp)
                tmp.flush()
                os.fsync(tmp.fileno())
            except BaseException:
                Path(tmp.name).unlink(missing_ok=True)
                raise
        return Path(tmp.name)

    def _make_room(self, incoming: int) -> None:
        """Evict oldest first until ``incoming`` bytes fit under the cap and above the floor;
        refuse, evicting nothing, when all the evidence there is could not make that room."""
        with self._lock:
            free = self.free_bytes()
            short = self.min_free_bytes + incoming - free
            if short > self._total:
                raise NoRoomForEvidence(
                    f"no space for {incoming} bytes of evidence in {self.root}: {free} bytes free, "
                    f"{self.min_free_bytes} kept free for the outbox, {self._total} of evidence to evict"
                )
            self._evict(incoming, keep=0)

    def _evict(self, incoming: int, keep: int) -> None:
        """Oldest first until ``incoming`` more bytes fit under the cap and above the floor; the
        newest ``keep`` files stay, even alone over the cap."""
        while len(self._files) > keep:
            if self._total + incoming > self.max_bytes:
                self._evict_oldest(f"over the cap of {self.max_bytes} bytes")
            elif self.free_bytes() < self.min_free_bytes + incoming:
                self._evict_oldest(f"under the floor of {self.min_free_bytes} bytes free")
            else:
                return

    def _evict_oldest(self, why: str) -> None:
        sha256, (path, size) = self._files.popitem(last=False)
        self._total -= size
        path.unlink(missing_ok=True)
        log.info("evidence evicted for space", sha256=sha256, bytes=size, why=why)

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
        return ref

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
