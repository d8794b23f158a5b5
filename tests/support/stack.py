"""The real services as processes: ``gridwatch-central serve`` and ``gridwatch-edge run``.

Each stack gets its own topic prefix, shared-subscription group and data directory on the
machine's Mosquitto, so parallel runs never see each other. Logs go to files (JSON lines), which
tests read to see what a process did and show when an assertion fails.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, ClassVar, Self

import httpx
import yaml

from tests.support.net import free_port
from tests.support.paths import MODEL, ROOT

BIN = Path(sys.executable).parent
CENTRAL_EXAMPLE = ROOT / "central.example.yaml"


def wait_until(condition: Callable[[], Any], timeout: float, what: str, interval: float = 0.2) -> Any:
    """``condition()``'s first truthy value; AssertionError naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


class _Process:
    """A console script run with its log in a file; stopped with SIGTERM (SIGKILL only as a failing last resort)."""

    def __init__(self, name: str, folder: Path) -> None:
        self.name = name
        self.folder = folder
        self.log_path = folder / f"{name}.log"
        self._process: subprocess.Popen[bytes] | None = None

    def _spawn(self, command: list[str]) -> None:
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                command,
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )

    @property
    def pid(self) -> int:
        if self._process is None:
            raise RuntimeError(f"{self.name} is not running")
        return self._process.pid

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def signal(self, sig: signal.Signals) -> None:
        os.kill(self.pid, sig)

    def stop(self, timeout: float = 30.0) -> int | None:
        """SIGCONT and SIGTERM back to back (a frozen process cannot handle SIGTERM); its exit status.

        Both services stop cleanly on that within seconds, so a process still running after ``timeout`` is a
        defect: it is killed, and the test fails."""
        process, self._process = self._process, None
        if process is None:
            return None
        if process.poll() is None:
            process.send_signal(signal.SIGCONT)
            process.terminate()
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
                raise AssertionError(
                    f"{self.name} ignored SIGTERM for {timeout} s and was killed:\n{self.log_tail()}"
                ) from None
        return process.returncode

    def log_tail(self, chars: int = 4000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:] if self.log_path.exists() else ""

    def records(self) -> Iterator[dict[str, Any]]:
        """The JSON log records so far (other lines, such as library messages, are skipped)."""
        if not self.log_path.exists():
            return
        for line in self.log_path.read_text(errors="replace").splitlines():
            if line.startswith("{"):
                try:
                    yield json.loads(line)
                except json.JSONDecodeError:
                    continue


class CentralProcess(_Process):
    """``gridwatch-central serve`` on a free port, SQLite in ``folder``, and a token per role."""

    ROLES: ClassVar[dict[str, list[str]]] = {
        "admin": [],
        "operator": [],
        "device": [],
        "cg-chongchuan": ["--department", "cg-chongchuan"],
    }

    def __init__(self, folder: Path, *, rpc_timeout_s: float = 3.0) -> None:
        super().__init__("central", folder)
        unique = uuid.uuid4().hex[:8]
        self.prefix = f"gridwatch-test/{unique}"
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        config = yaml.safe_load(CENTRAL_EXAMPLE.read_text(encoding="utf-8"))
        config["data_dir"] = str(folder / "central-data")
        config["mqtt"].update(
            {
                "topic_prefix": self.prefix,
                "group": f"g-{unique}",
                "client_id": f"central-{unique}",
                "session_expiry_s": 0,
            }
        )
        config["http"]["port"] = self.port
        config["live"] = {"rpc_timeout_s": rpc_timeout_s}
        self.config_path = folder / "central.yaml"
        self.config_path.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
        self.tokens: dict[str, str] = {}

    def start(self, *, tokens: bool = True) -> Self:
        """Serving and subscribed; ``tokens=False`` skips creating one token per role (a few seconds)."""
        for holder, extra in self.ROLES.items() if tokens else ():
            role = "department" if extra else holder
            done = subprocess.run(
                [
                    str(BIN / "gridwatch-central"),
                    "create-token",
                    "--config",
                    str(self.config_path),
                    "--role",
                    role,
                    "--name",
                    holder,
                    *extra,
                ],
                check=True,
                capture_output=True,
                text=True,
            )
            self.tokens[holder] = done.stdout.strip().splitlines()[-1]
        self._spawn(
            [str(BIN / "gridwatch-central"), "--log-json", "serve", "--config", str(self.config_path)]
        )
        wait_until(self._subscribed, 30, f"central to serve on {self.base_url}\n{self.log_tail()}")
        return self

    def device_token(self, device_id: str) -> str:
        """A device token named after ``device_id`` (made once): the central ties that device's uploads to it."""
        if device_id not in self.tokens:
            done = subprocess.run(
                [
                    str(BIN / "gridwatch-central"),
                    "create-token",
                    "--config",
                    str(self.config_path),
                    "--role",
                    "device",
                    "--name",
                    device_id,
                ],
                check=True,
                capture_output=True,
                text=True,
            )
            self.tokens[device_id] = done.stdout.strip().splitlines()[-1]
        return self.tokens[device_id]

    def _subscribed(self) -> bool:
        if not self.running:
            raise AssertionError(f"central exited:\n{self.log_tail()}")
        try:
            return bool(httpx.get(f"{self.base_url}/healthz", timeout=2).json()["ingest_subscribed"])
        except httpx.HTTPError:
            return False

    def get(self, path: str, token: str = "admin") -> httpx.Response:
        return httpx.get(
            self.base_url + path, headers={"Authorization": f"Bearer {self.tokens[token]}"}, timeout=30
        )

    def camera_state(self, device_id: str, camera_id: str) -> str | None:
        cameras = self.get("/api/v1/cameras").json()
        return next(
            (c["state"] for c in cameras if (c["device_id"], c["camera_id"]) == (device_id, camera_id)), None
        )

    def device_state(self, device_id: str) -> str | None:
        devices = self.get("/api/v1/devices").json()
        return next((d["state"] for d in devices if d["device_id"] == device_id), None)


def camera(camera_id: str, source: str, **extra: Any) -> dict[str, Any]:
    """A camera entry with one no-parking zone over the lower half, analysed once a second."""
    entry: dict[str, Any] = {
        "id": camera_id,
        "name": f"{camera_id} (test)",
        "district": "chongchuan",
        "source": source,
        "analysis_fps": 1,
        "reader": {
            "connect_timeout_s": 3,
            "stall_timeout_s": 3,
            "backoff_initial_s": 0.5,
            "backoff_max_s": 2,
        },
        "zones": [
            {
                "id": "lower-half",
                "polygon": [[0, 0.5], [1, 0.5], [1, 1], [0, 1]],
                "rules": {"illegal_parking": {"dwell_s": 60}},
            }
        ],
    }
    entry.update(extra)
    return entry


class EdgeProcess(_Process):
    """``gridwatch-edge run`` for ``cameras``, talking to ``central`` (MQTT prefix, media uploads)."""

    def __init__(
        self,
        folder: Path,
        central: CentralProcess,
        device_id: str,
        cameras: list[dict[str, Any]],
        **sections: Any,
    ) -> None:
        super().__init__(f"edge-{device_id}", folder)
        self.device_id = device_id
        self.central = central
        config: dict[str, Any] = {
            "device_id": device_id,
            "mqtt": {"url": "mqtt://127.0.0.1:1883", "topic_prefix": central.prefix, "status_interval_s": 1},
            "central": {"url": central.base_url, "token": central.device_token(device_id)},
            "model": {"path": str(MODEL)},
            "storage": {"dir": str(folder / f"{device_id}-state")},
            "cameras": cameras,
            **sections,
        }
        self.config_path = folder / f"{device_id}.yaml"
        self.config_path.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")

    def start(self, *, streaming: list[str] | None = None, timeout: float = 90.0) -> Self:
        """Start, then wait until the central registry shows the device online and ``streaming`` cameras streaming."""
        self._spawn([str(BIN / "gridwatch-edge"), "--log-json", "run", "--config", str(self.config_path)])

        def ready() -> bool:
            if not self.running:
                raise AssertionError(f"{self.name} exited:\n{self.log_tail()}")
            if self.central.device_state(self.device_id) != "online":
                return False
            return all(self.central.camera_state(self.device_id, c) == "streaming" for c in streaming or [])

        wait_until(
            ready,
            timeout,
            f"{self.name} online with {streaming or 'its cameras'} streaming\n{self.log_tail()}",
        )
        return self

    def events(self, name: str) -> list[dict[str, Any]]:
        """Log records whose message is ``name`` (e.g. "live viewer closed")."""
        return [r for r in self.records() if r.get("event") == name]
