"""SIGTERM and SIGINT for ``gridwatch-central serve``: a clean shutdown exits 0, and a signal that
arrives while the service is still starting up is not lost.

uvicorn (0.29 and later, read in ``uvicorn/server.py``) takes both signals while it serves, shuts
down gracefully, restores the handlers it found and then raises each signal it caught again, so
that the previous handler runs: with Python's default one, every clean shutdown ended with status
143. The handler installed here, before anything slow starts, is that previous handler. It only
sets flags (no locks, no logging: nothing that can deadlock in signal context): before uvicorn takes over it
remembers the request and tells the server to shut down as soon as it has started; after uvicorn
hands back it does nothing more, and ``serve`` returns 0.
"""

from __future__ import annotations

import signal
from types import FrameType
from typing import Any

import uvicorn

STARTUP_FAILURE = 3
"""What ``uvicorn.run`` exits with when the server never started."""


class ShutdownSignals:
    """Create it first thing in ``serve``; ``serve`` then runs uvicorn until a signal."""

    def __init__(self) -> None:
        self.requested = False
        self._server: uvicorn.Server | None = None
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, self._handle)

    def serve(self, app: Any, **options: Any) -> int:
        """Run ``app`` under uvicorn (``options`` as for ``uvicorn.Config``) until SIGTERM or SIGINT; 0 once it
        has shut down, ``STARTUP_FAILURE`` if it never started."""
        server = uvicorn.Server(uvicorn.Config(app, **options))
        self._server = server
        if self.requested:  # a signal during start-up: shut down as soon as it has started
            server.should_exit = True
        server.run()
        return 0 if server.started else STARTUP_FAILURE

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self.requested = True
        if self._server is not None:
            self._server.should_exit = True
