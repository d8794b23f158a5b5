"""Waiting on another thread or process (ingest, a served process) without fixed sleeps."""

from __future__ import annotations

import time
from collections.abc import Callable


def wait_until(predicate: Callable[[], bool], timeout: float, step: float = 0.05) -> bool:
    """True as soon as ``predicate()`` holds; False once ``timeout`` seconds have passed."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(step)
    return True
