"""Stopping the real servers tests start (brokers, RTSP servers) the way a service manager would."""

from __future__ import annotations

import signal
import subprocess


def stop_process(
    process: subprocess.Popen[bytes], sig: signal.Signals = signal.SIGTERM, timeout: float = 10.0
) -> None:
    """``sig`` first, so the server can save its state; SIGKILL if it has not exited after ``timeout`` s."""
    process.send_signal(sig)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
