"""Mosquitto started from the shipped ``deploy/mosquitto`` configuration, for tests of what it allows.

The copy differs from the shipped files only where a test machine must: each listener moves to
a free port on 127.0.0.1, the TLS lines go (the certificates are the site's own, and TLS is not
what these tests are about), paths under /etc/mosquitto and /var/lib/mosquitto move into a
temporary folder, and Mosquitto keeps the test's user. Every other line is used as shipped, the
ACL files included; the password files, which a site makes with ``mosquitto_passwd``, are made
here with it too, each holding the accounts of the listener it belongs to.
"""

from __future__ import annotations

import getpass
import secrets
import shutil
import subprocess
from pathlib import Path
from types import TracebackType
from typing import Self

from tests.support.net import free_port, wait_for_port
from tests.support.paths import ROOT
from tests.support.processes import stop_process

DEPLOY = ROOT / "deploy" / "mosquitto"
DEVICES_PORT = 8883
"""The shipped listener for edge devices (the one ``deploy/compose.yaml`` publishes)."""
CENTRAL_PORT = 8884
"""The shipped listener for central replicas; a configuration without one serves them on the devices' listener."""
TLS_KEYS = {"certfile", "keyfile", "cafile", "capath", "require_certificate"}


class DeployBroker:
    """``mosquitto -c <copy of deploy/mosquitto/mosquitto.conf>`` with device and central accounts."""

    def __init__(self, workdir: Path, devices: list[str], central: str) -> None:
        self._dir = workdir / "deploy-mosquitto"
        self._devices = devices
        self._central = central
        self.passwords = {name: secrets.token_hex(8) for name in [*devices, central]}
        self._ports: dict[int, int] = {}
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def devices_port(self) -> int:
        return self._ports[DEVICES_PORT]

    @property
    def central_port(self) -> int:
        return self._ports.get(CENTRAL_PORT, self.devices_port)

    @property
    def log(self) -> str:
        """What Mosquitto said (its start-up errors, then its log), for assertion messages."""
        paths = [self._dir / "stderr.log", self._dir / "mosquitto.log"]
        return "".join(p.read_text(encoding="utf-8", errors="replace") for p in paths if p.exists())

    def start(self) -> None:
        for folder in ("etc", "var"):
            (self._dir / folder).mkdir(parents=True, exist_ok=True)
        conf = self._dir / "mosquitto.conf"
        conf.write_text(self._copy((DEPLOY / "mosquitto.conf").read_text(encoding="utf-8")), encoding="utf-8")
        with (self._dir / "stderr.log").open("wb") as stderr:
            self._process = subprocess.Popen(["mosquitto", "-c", str(conf)], stderr=stderr)
        try:
            for port in self._ports.values():
                wait_for_port(port, timeout=10.0)
        except TimeoutError as err:
            self.stop()
            raise RuntimeError(f"mosquitto did not start from the deploy configuration:\n{self.log}") from err

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        stop_process(process)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def _copy(self, shipped: str) -> str:
        lines = [f"user {getpass.getuser()}", f"log_dest file {self._dir}/mosquitto.log", "log_type all"]
        section: int | None = None
        for line in shipped.splitlines():
            words = line.split()
            key = words[0] if words and not words[0].startswith("#") else ""
            if key in TLS_KEYS:
                continue
            if key == "listener":
                section = int(words[1])
                self._ports[section] = free_port()
                lines.append(f"listener {self._ports[section]} 127.0.0.1")
                continue
            line = line.replace("/etc/mosquitto/", f"{self._dir}/etc/").replace(
                "/var/lib/mosquitto/", f"{self._dir}/var/"
            )
            if key == "password_file":
                self._write_passwords(Path(line.split(maxsplit=1)[1]), section)
            elif key == "acl_file":
                shutil.copyfile(DEPLOY / Path(words[1]).name, line.split(maxsplit=1)[1])
            lines.append(line)
        return "\n".join(lines) + "\n"

    def _write_passwords(self, path: Path, section: int | None) -> None:
        """The accounts of the listener at ``section`` (every account for a file outside any listener)."""
        users = {DEVICES_PORT: self._devices, CENTRAL_PORT: [self._central]}.get(
            section or 0, [*self._devices, self._central]
        )
        path.unlink(missing_ok=True)
        for user in users:
            create = [] if path.exists() else ["-c"]
            subprocess.run(
                ["mosquitto_passwd", *create, "-b", str(path), user, self.passwords[user]],
                check=True,
                capture_output=True,
            )
