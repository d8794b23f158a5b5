"""``gridwatch-edge run`` on its own (no central service), its JSON log in a file read while it runs.

Fault tests (a filling disk, a frozen box) watch the edge's own log lines to time their attack
and to explain a failure, so the log is kept whole rather than piped.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from tests.support.paths import ROOT
from tests.support.stack import wait_until


class LocalEdge:
    """One edge process for ``config``; ``debug`` adds the debug lines some tests wait on."""

    def __init__(self, folder: Path, config: dict[str, Any], *, debug: bool = False) -> None:
        path = folder / "edge.yaml"
        path.write_text(yaml.safe_dump(config))
        self.log_path = folder / "edge.log"
        level = ["--log-level", "debug"] if debug else []
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "edge", "--log-json", *level, "run", "--config", str(path)],
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )

    def records(self, event: str | None = None) -> list[dict[str, Any]]:
        """The log's records so far; with ``event``, only those with that message."""
        lines = self.log_path.read_text(errors="replace").splitlines()
        records = [json.loads(line) for line in lines if line.startswith("{")]
        return [r for r in records if event is None or r.get("event") == event]

    def tail(self) -> str:
        return self.log_path.read_text(errors="replace")[-3000:]

    def alive(self) -> bool:
        if self.process.poll() is not None:
            raise AssertionError(f"the edge exited:\n{self.tail()}")
        return True

    def wait(self, condition: Callable[[], Any], timeout: float, what: str) -> Any:
        """``wait_until``, with the edge's latest log lines in the failure."""
        try:
            return wait_until(condition, timeout, what)
        except AssertionError as err:
            raise AssertionError(f"{err}\n{self.tail()}") from None

    def stop(self) -> int:
        """SIGTERM, then SIGKILL after 30 s; the exit status (0 for a clean stop)."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                return self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
        return self.process.wait()
