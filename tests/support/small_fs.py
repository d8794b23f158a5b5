"""A small, real file system for disk-full tests: a tmpfs of a few MB, mounted for one test.

Filling a real file system is the only honest way to see ENOSPC and SQLite's "database or disk
is full": a mock would say what we think the kernel does. Mounting needs root (CAP_SYS_ADMIN);
without it the test is skipped, saying so.
"""

from __future__ import annotations

import errno
import os
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

MB = 1 << 20
_CHUNK = MB


def free_bytes(path: Path) -> int:
    """What an unprivileged writer may still write on ``path``'s file system."""
    stat = os.statvfs(path)
    return stat.f_bavail * stat.f_frsize


@contextmanager
def small_filesystem(mount_point: Path, size_mb: int) -> Iterator[Path]:
    """A ``size_mb`` tmpfs at ``mount_point`` for the block; unmounted (lazily, should a process
    still hold a file) afterwards."""
    mount_point.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size_mb}m", "tmpfs", str(mount_point)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip(
            f"cannot mount a {size_mb} MB tmpfs at {mount_point} (root needed): {done.stderr.strip()}"
        )
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], capture_output=True, check=False)


def fill(folder: Path, leave: int = 0) -> Path:
    """Write a filler file into ``folder`` until at most ``leave`` bytes are free (0: until ENOSPC),
    as another program filling the disk would."""
    filler = folder / f"filler-{uuid.uuid4().hex[:8]}"
    with filler.open("wb", buffering=0) as out:
        try:
            while (room := free_bytes(folder) - leave) > 0:
                out.write(b"\0" * min(_CHUNK, room))
        except OSError as err:
            if err.errno != errno.ENOSPC:
                raise
    return filler
