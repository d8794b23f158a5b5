"""SIGTERM and SIGINT as a stop request that is never lost, whichever thread the kernel hands them to.

A Python signal handler runs only in the main thread, and only when that thread next executes
bytecode. The kernel, though, may deliver a process-wide signal to any thread that does not block
it; right after SIGCONT it often picks another one, because the main thread still has the continue
pending. A main thread blocked in ``threading.Event.wait()`` is then never woken: the handler does
not run until a second signal happens to reach the main thread (seen in 2 of 4 tries of SIGSTOP,
then SIGCONT and SIGTERM back to back). A handler that calls ``Event.set()`` can also deadlock on
the condition lock the interrupted ``wait()`` holds.

So the handlers here do nothing, and the wake-up goes through ``signal.set_wakeup_fd``: CPython's C
handler writes the signal number to a pipe from whatever thread received it, and an ordinary thread
reading that pipe sets the stop event. Nothing runs in signal context but a ``write()``.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable
from types import FrameType, TracebackType
from typing import Any, Self

import structlog

log = structlog.get_logger(__name__)

Handler = Callable[[int, FrameType | None], Any] | int | signal.Handlers | None
"""What ``signal.signal`` returns: a function, SIG_DFL or SIG_IGN, or None (installed outside Python)."""

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
_CLOSE = b"\0"  # not a signal number: tells the watcher thread to end


class StopSignals:
    """While entered (in the main thread), SIGTERM or SIGINT sets ``stop``; ``received`` names the first one."""

    def __init__(self, stop: threading.Event, signals: tuple[signal.Signals, ...] = STOP_SIGNALS) -> None:
        self.stop = stop
        self.received: signal.Signals | None = None
        self._signals = signals
        self._read, self._write = os.pipe()
        os.set_blocking(self._write, False)  # set_wakeup_fd requires it; a full pipe drops only repeats
        self._previous_fd = -1
        self._previous: dict[signal.Signals, Handler] = {}
        self._watcher = threading.Thread(target=self._watch, name="stop-signals", daemon=True)

    def __enter__(self) -> Self:
        self._watcher.start()
        self._previous_fd = signal.set_wakeup_fd(self._write, warn_on_full_buffer=False)
        self._previous = {signum: signal.signal(signum, _ignore) for signum in self._signals}
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None
    ) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        signal.set_wakeup_fd(self._previous_fd)
        os.write(self._write, _CLOSE)
        self._watcher.join()
        os.close(self._read)
        os.close(self._write)

    def _watch(self) -> None:
        while True:
            for number in os.read(self._read, 64):
                if not number:
                    return
                self._received(number)

    def _received(self, number: int) -> None:
        if number not in self._signals:
            return  # another signal with a Python handler also writes its number here
        name = signal.Signals(number)
        if self.received is None:
            self.received = name
            log.info("stop requested", signal=name.name)
        else:
            log.info("stop already requested", signal=name.name, first=self.received.name)
        self.stop.set()


def _ignore(signum: int, frame: FrameType | None) -> None:
    """Installed so that the C handler runs (and writes to the wake-up pipe) instead of the default action."""
