"""Evidence storage: an interface any store can implement, and the local-disk store used by default.

Files are named by the SHA-256 of their bytes, so an upload is checked against its own name, a
repeated upload is harmless, and an S3-compatible store can implement the same four methods.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import BinaryIO, Protocol


class MediaError(Exception):
    """An upload that was refused; nothing of it was kept."""


class HashMismatch(MediaError):
    pass


class MediaStore(Protocol):
    def exists(self, sha256: str) -> bool:
        """True when the file is stored in full."""
        ...

    def size(self, sha256: str) -> int | None:
        """The stored file's size in bytes, or None when it is not stored."""
        ...

    async def put(self, sha256: str, chunks: AsyncIterator[bytes]) -> int:
        """Store the streamed bytes if they hash to ``sha256``; returns the size.

        Raises HashMismatch, or whatever ``chunks`` raises (the HTTP body limit's 413), in which
        case nothing is kept. The size limit is the body limit's alone (``api/body_limit.py``).
        """
        ...

    def open(self, sha256: str) -> BinaryIO:
        """A seekable binary file of the stored bytes (FileNotFoundError when absent)."""
        ...


class LocalMediaStore:
    """Files under ``root/ab/cd/abcd...``; uploads land in a temporary file and are renamed into place."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._incoming = root / ".incoming"
        self._incoming.mkdir(parents=True, exist_ok=True)

    def path(self, sha256: str) -> Path:
        return self.root / sha256[:2] / sha256[2:4] / sha256

    def exists(self, sha256: str) -> bool:
        return self.path(sha256).is_file()

    def size(self, sha256: str) -> int | None:
        try:
            return self.path(sha256).stat().st_size
        except FileNotFoundError:
            return None

    async def put(self, sha256: str, chunks: AsyncIterator[bytes]) -> int:
        digest = hashlib.sha256()
        size = 0
        handle, temp_name = tempfile.mkstemp(dir=self._incoming, prefix=sha256[:16] + ".")
        temp = Path(temp_name)
        try:
            with os.fdopen(handle, "wb") as out:
                async for chunk in chunks:
                    size += len(chunk)
                    digest.update(chunk)
                    out.write(chunk)
            actual = digest.hexdigest()
            if actual != sha256:
                raise HashMismatch(f"the body's SHA-256 is {actual}, not {sha256}")
            target = self.path(sha256)
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(temp, target)
        finally:
            temp.unlink(missing_ok=True)
        return size

    def open(self, sha256: str) -> BinaryIO:
        return self.path(sha256).open("rb")
