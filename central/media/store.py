"""What every evidence store offers, and the errors the API turns into HTTP statuses.

Files are named by the SHA-256 of their bytes, so an upload is checked against its own name and a
repeated upload is harmless. The local disk (``local.py``) is the default; an S3-compatible object
store (``s3.py``) lets several replicas serve each other's evidence.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING, BinaryIO, Protocol

if TYPE_CHECKING:
    from hashlib import _Hash

CHUNK = 256 * 1024
"""Bytes per piece when a stored file is streamed out."""


class MediaError(Exception):
    """An upload that was refused; nothing of it was kept."""


class HashMismatch(MediaError):
    pass


class MediaUnavailable(Exception):
    """The store cannot be reached or failed: nothing is wrong with the request, so a retry may succeed."""


class MediaStore(Protocol):
    def exists(self, sha256: str) -> bool:
        """True when the file is stored in full."""
        ...

    def size(self, sha256: str) -> int | None:
        """The stored file's size in bytes, or None when it is not stored."""
        ...

    async def put(self, sha256: str, chunks: AsyncIterator[bytes]) -> int:
        """Store the streamed bytes if they hash to ``sha256``; returns the size.

        Raises HashMismatch, MediaUnavailable, or whatever ``chunks`` raises (the HTTP body limit's
        413), in which case nothing is kept. The size limit is the body limit's alone
        (``api/body_limit.py``).
        """
        ...

    def open(self, sha256: str) -> BinaryIO:
        """A seekable binary file of the stored bytes (FileNotFoundError when absent)."""
        ...

    def delete(self, sha256: str) -> None:
        """Remove the stored file; nothing happens when it is absent (retention may retry a batch)."""
        ...

    def stream(self, sha256: str, start: int, end: int) -> Iterator[bytes]:
        """Bytes ``[start, end)`` of a stored file in pieces of at most ``CHUNK``.

        The store is asked before this returns, so an unreachable store raises MediaUnavailable
        here, while the caller can still answer with an error status rather than a cut-off body.
        """
        ...


def read_span(handle: BinaryIO, start: int, end: int) -> Iterator[bytes]:
    """Bytes ``[start, end)`` of an open file, closing it when done or abandoned."""
    with handle:
        handle.seek(start)
        left = end - start
        while left > 0:
            chunk = handle.read(min(CHUNK, left))
            if not chunk:
                return
            left -= len(chunk)
            yield chunk


async def spool(sha256: str, chunks: AsyncIterator[bytes], out: BinaryIO, *also: _Hash) -> int:
    """Write the chunks to ``out`` and return their size; HashMismatch unless they hash to ``sha256``.

    ``also`` are further digests to feed on the way (the S3 store sends the body's MD5 so that the
    server checks it stored what was hashed here).
    """
    digest = hashlib.sha256()
    size = 0
    async for chunk in chunks:
        size += len(chunk)
        digest.update(chunk)
        for other in also:
            other.update(chunk)
        out.write(chunk)
    actual = digest.hexdigest()
    if actual != sha256:
        raise HashMismatch(f"the body's SHA-256 is {actual}, not {sha256}")
    return size
