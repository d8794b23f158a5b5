"""``gridwatch-central serve`` as a real process for tests: its own topic prefix, group and port."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import uvicorn
import yaml

from central.app import create_app, server_options
from central.services import Services
from contract.topics import Topics
from tests.central.conftest import EXAMPLE
from tests.central.waiting import wait_until
from tests.support.net import free_port

CENTRAL = Path(sys.executable).parent / "gridwatch-central"


@dataclass(frozen=True)
class Served:
    base: str
    topic_prefix: str
    tokens: dict[str, str]

    @property
    def topics(self) -> Topics:
        return Topics(self.topic_prefix)


@contextmanager
def serve(database_url: str, folder: Path, device_id: str = "box-1") -> Iterator[Served]:
    """The example configuration on a free port; flags override the file's port, database and data dir.

    The device token is named after ``device_id``: the central ties that device's uploads to it.
    """
    unique = uuid.uuid4().hex[:8]
    config = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    config["mqtt"].update(
        {
            "topic_prefix": f"t-{unique}/gridwatch/v1",
            "group": f"g-{unique}",
            "client_id": f"central-{unique}",
            "session_expiry_s": 0,
        }
    )
    config["http"]["port"] = 1  # overridden by --port below
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "central.yaml"
    path.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    common = ["--config", str(path), "--db", database_url, "--data-dir", str(folder / "data")]
    tokens = {
        role: subprocess.run(
            [str(CENTRAL), "create-token", "--role", role, "--name", name, *common],
            check=True,
            capture_output=True,
            text=True,
        )
        .stdout.strip()
        .splitlines()[-1]
        for role, name in (("admin", "admin"), ("device", device_id))
    }
    port = free_port()
    process = subprocess.Popen(
        [str(CENTRAL), "serve", *common, "--port", str(port)], stderr=subprocess.PIPE, text=True
    )
    base = f"http://127.0.0.1:{port}"
    try:
        if not wait_until(lambda: _subscribed(base), 30):
            raise TimeoutError("gridwatch-central serve did not come up and subscribe within 30 s")
        yield Served(base, config["mqtt"]["topic_prefix"], tokens)
    finally:
        process.send_signal(signal.SIGTERM)
        _, log = process.communicate(timeout=30)
        # uvicorn re-raises the signal once it has shut down cleanly
        if process.returncode not in (0, -signal.SIGTERM) or "ingest stopped" not in log:
            raise AssertionError(f"serve did not stop cleanly (exit {process.returncode}):\n{log[-3000:]}")


def _subscribed(base: str) -> bool:
    try:
        return bool(httpx.get(f"{base}/healthz", timeout=2).json()["ingest_subscribed"])
    except httpx.HTTPError:
        return False


@contextmanager
def running(services: Services) -> Iterator[str]:
    """The app under uvicorn with the options ``serve`` uses, on a free port; yields its base URL."""
    options = {**server_options(services.config), "port": free_port(), "log_level": "warning"}
    server = uvicorn.Server(uvicorn.Config(create_app(services), **options))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise AssertionError("uvicorn did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{options['port']}"
    finally:
        server.should_exit = True
        thread.join(15)
