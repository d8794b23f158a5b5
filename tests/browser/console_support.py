"""Helpers for the console's browser tests, on top of ``tests/browser/conftest.py``'s fixtures.

- ``create_user``: ``gridwatch-central create-user`` against a running central's configuration,
  the password on stdin (the command never takes it as a flag).
- ``EdgeRecording``: the real edge's ``analyze --publish`` on parking_row.mp4 into that central,
  run once per module in the background (``start``), so a test can watch its tickets arrive.
- ``log_in``, ``no_horizontal_scroll``, ``video_state``: what the tests do in a page.
"""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml
from playwright.sync_api import Page

from tests.support.paths import PARKING_ROW, ROOT
from tests.support.stack import BIN, CentralProcess

PARKED_ROW = [[0.0, 0.62], [0.78, 0.62], [0.78, 0.92], [0.0, 0.92]]
"""The row of parked cars in parking_row.mp4 (as in tests/central/test_edge_to_ticket.py)."""
TIME_LAPSE_PARKING = {"dwell_s": 2, "grace_s": 2, "min_similarity": -1, "min_presence": 0}
"""A rainy time-lapse: short dwell, appearance and presence checks off."""


def create_user(
    central: CentralProcess, username: str, password: str, role: str, department: str | None = None
) -> None:
    extra = ["--department", department] if department else []
    subprocess.run(
        [
            str(BIN / "gridwatch-central"),
            "create-user",
            "--config",
            str(central.config_path),
            "--username",
            username,
            "--role",
            role,
            *extra,
        ],
        input=password + "\n",
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    )


class EdgeRecording:
    """``gridwatch-edge analyze --publish`` of parking_row.mp4, stamped as if recorded just now."""

    def __init__(self, central: CentralProcess, folder: Path, model: Path) -> None:
        self.folder = folder
        self.events_out = folder / "events.jsonl"
        self.log_path = folder / "analyze.log"
        config = {
            "device_id": "recorder-box",
            "mqtt": {"url": "mqtt://127.0.0.1:1883", "topic_prefix": central.prefix},
            "central": {"url": central.base_url, "token": central.device_token("recorder-box")},
            "model": {"path": str(model)},
            "storage": {"dir": str(folder / "edge-state")},
            "evidence": {"pre_s": 2, "post_s": 2},
            "cameras": [
                {
                    "id": "parking-row",
                    "name": "Site road parking row",
                    "district": "chongchuan",
                    "source": "unused",
                    "analysis_fps": 5,
                    "zones": [
                        {"id": "row", "polygon": PARKED_ROW, "rules": {"illegal_parking": TIME_LAPSE_PARKING}}
                    ],
                }
            ],
        }
        self.config_path = folder / "edge.yaml"
        self.config_path.write_text(yaml.safe_dump(config), encoding="utf-8")
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start it once; later calls do nothing (the module's tests share its tickets)."""
        if self._process is not None:
            return
        start_time = (datetime.now(UTC) - timedelta(seconds=5)).isoformat()
        with self.log_path.open("wb") as log:
            self._process = subprocess.Popen(
                [
                    str(BIN / "gridwatch-edge"),
                    "analyze",
                    "--config",
                    str(self.config_path),
                    "--camera",
                    "parking-row",
                    "--source",
                    str(PARKING_ROW),
                    "--events-out",
                    str(self.events_out),
                    "--publish",
                    "--drain-timeout",
                    "120",
                    "--no-progress",
                    "--start-time",
                    start_time,
                ],
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def wait(self, timeout: float = 300) -> None:
        self.start()
        assert self._process is not None
        code = self._process.wait(timeout)
        assert code == 0, (
            f"analyze --publish exited {code}:\n{self.log_path.read_text(errors='replace')[-3000:]}"
        )

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.kill()
            self._process.wait()


def log_in(page: Page, base_url: str, username: str, password: str) -> None:
    page.goto(f"{base_url}/")
    page.fill("#login-form input[name=username]", username)
    page.fill("#login-form input[name=password]", password)
    page.click("#login-form button[type=submit]")
    page.wait_for_selector("#logout")


def log_in_with_token(page: Page, base_url: str, token: str) -> None:
    page.goto(f"{base_url}/")
    page.click("#login-mode-token")
    page.fill("#login-form input[name=token]", token)
    page.click("#login-form button[type=submit]")
    page.wait_for_selector("#logout")


def no_horizontal_scroll(page: Page) -> dict[str, Any]:
    """The page's widths; the caller asserts scrollWidth <= clientWidth."""
    result: dict[str, Any] = page.evaluate("""() => ({
        scrollWidth: document.documentElement.scrollWidth, clientWidth: document.documentElement.clientWidth,
        wide: [...document.querySelectorAll('body *')].filter((e) => e.getBoundingClientRect().right >
              document.documentElement.clientWidth + 1).slice(0, 5).map((e) => e.tagName + '.' + e.className)})""")
    return result


def video_state(page: Page, selector: str = "video.clip") -> dict[str, Any]:
    result: dict[str, Any] = page.eval_on_selector(
        selector,
        """(v) => ({
        currentTime: v.currentTime, duration: v.duration, readyState: v.readyState, paused: v.paused,
        error: v.error ? v.error.code : null, width: v.videoWidth})""",
    )
    return result
