"""The default evidence store: files on the local disk under ``root/ab/cd/abcd...``."""

from __future__ import annotations

import os
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import BinaryIO

from central.media.store import read_span, spool


class LocalMediaStore:
    """Uploads land in a temporary file and are renamed into place once their hash is checked."""

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
        handle, temp_name = tempfile.mkstemp(dir=self._incoming, prefix=sha256[:16] + ".")
        temp = Path(temp_name)
        try:
            with os.fdopen(handle, "wb") as out:
                size = await spool(sha256, chunks, out)
            target = self.path(sha256)
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(temp, target)
        finally:
            temp.unlink(missing_ok=True)
        return size

    def open(self, sha256: str) -> BinaryIO:
        return self.path(sha256).open("rb")

    def delete(self, sha256: str) -> None:
        self.path(sha256).unlink(missing_ok=True)

    def stream(self, sha256: str, start: int, end: int) -> Iterator[bytes]:
        return read_span(self.open(sha256), start, end)
