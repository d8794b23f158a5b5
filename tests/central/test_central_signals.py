"""``gridwatch-central serve`` ends with status 0 on SIGTERM, also right after SIGCONT.

uvicorn shuts down gracefully on SIGTERM and then raises the signal again once it has restored the
handlers it found; with Python's default handler that ended every clean shutdown with status 143.
"""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from tests.support.stack import CentralProcess, wait_until


def process_state(central: CentralProcess) -> str:
    """The one-letter state from /proc (T: stopped)."""
    return Path(f"/proc/{central.pid}/stat").read_text().rsplit(")", 1)[1].split()[0]


def test_sigterm_ends_a_clean_shutdown_with_status_0(tmp_path: Path) -> None:
    central = CentralProcess(tmp_path).start(tokens=False)

    central.signal(signal.SIGTERM)
    wait_until(lambda: not central.running, 30, f"central to exit\n{central.log_tail()}")

    assert central.stop() == 0, central.log_tail()
    assert any(str(r.get("event")).startswith("Finished server process") for r in central.records()), (
        "uvicorn did not shut down gracefully"
    )


@pytest.mark.parametrize("attempt", range(3))
def test_sigterm_right_after_sigcont_stops_a_frozen_central_cleanly(tmp_path: Path, attempt: int) -> None:
    central = CentralProcess(tmp_path).start(tokens=False)
    central.signal(signal.SIGSTOP)
    wait_until(lambda: process_state(central) == "T", 5, "the central to stop")

    assert central.stop(timeout=30) == 0, central.log_tail()  # SIGCONT and SIGTERM back to back
