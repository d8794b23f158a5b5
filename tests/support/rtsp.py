"""A real RTSP server (``rtsp_server.py`` under GStreamer) as a subprocess that tests start,
stop, restart and freeze, to exercise the reader against the same faults a real camera has."""

from __future__ import annotations

import os
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import Self

from tests.support.net import free_port, wait_for_port
from tests.support.processes import stop_process

SCRIPT = Path(__file__).with_name("rtsp_server.py")
SYSTEM_PYTHON = "/usr/bin/python3"  # has the gi bindings for GStreamer; the venv does not


class RtspServer:
    """Serves ``mounts`` (mount -> MP4 file) at ``rtsp://127.0.0.1:PORT/mount``; the port survives restarts."""

    def __init__(
        self,
        mounts: dict[str, Path],
        *,
        loop: bool = True,
        loop_count: int = 20,
        startup_timeout_s: float = 30.0,
    ) -> None:
        self.mounts = mounts
        self.port = free_port()
        self._loop = loop
        self._loop_count = loop_count
        self._startup_timeout_s = startup_timeout_s
        self._process: subprocess.Popen[bytes] | None = None
        self._log = Path(tempfile.mkstemp(prefix="gridwatch-rtsp-", suffix=".log")[1])

    def url(self, mount: str) -> str:
        return f"rtsp://127.0.0.1:{self.port}/{mount.lstrip('/')}"

    def start(self) -> Self:
        command = [SYSTEM_PYTHON, str(SCRIPT), "--port", str(self.port)]
        command += [
            arg for mount, path in self.mounts.items() for arg in ("--mount", f"/{mount.lstrip('/')}={path}")
        ]
        if self._loop:
            command += ["--loop", "--loop-count", str(self._loop_count)]
        with self._log.open("wb") as log:
            self._process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        self._wait_ready()
        return self

    def stop(self) -> None:
        """Terminate (SIGTERM, then SIGKILL after 5 s); connected clients see the connection close."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGCONT)  # a frozen process cannot handle SIGTERM
        stop_process(process, timeout=5)

    def restart(self) -> None:
        self.stop()
        self.start()

    def freeze(self) -> None:
        """SIGSTOP: the TCP connection stays open but nothing arrives, as with a hung camera."""
        os.kill(self._running().pid, signal.SIGSTOP)

    def thaw(self) -> None:
        os.kill(self._running().pid, signal.SIGCONT)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
        self._log.unlink(missing_ok=True)

    def _running(self) -> subprocess.Popen[bytes]:
        if self._process is None or self._process.poll() is not None:
            raise RuntimeError(f"RTSP server on port {self.port} is not running:\n{self._log.read_text()}")
        return self._process

    def _wait_ready(self) -> None:
        """Until the server prints READY (it may first write looped copies), then its port answers."""
        deadline = time.monotonic() + self._startup_timeout_s
        while b"READY" not in self._log.read_bytes():
            self._running()
            if time.monotonic() > deadline:
                self.stop()
                raise TimeoutError(
                    f"RTSP server not ready after {self._startup_timeout_s} s:\n{self._log.read_text()}"
                )
            time.sleep(0.05)
        wait_for_port(self.port, timeout=max(1.0, deadline - time.monotonic()))
