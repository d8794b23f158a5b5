"""A private Mosquitto per test, and a subscriber that records what reaches it.

Tests that stop or restart a broker cannot use the shared one on 1883; this one runs
from a temporary config with persistence on, so queued QoS 1 messages and persistent
sessions survive a restart exactly as they would in the field.
"""

from __future__ import annotations

import getpass
import signal
import subprocess
import threading
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Self

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from tests.support.net import free_port, wait_for_port
from tests.support.processes import stop_process


class Broker:
    """``mosquitto -c <tmp conf>`` on a free loopback port that stays the same across restarts."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self._dir = workdir / f"mosquitto-{self.port}"
        self._dir.mkdir(parents=True)
        self._conf = self._dir / "mosquitto.conf"
        self._conf.write_text(
            f"listener {self.port} 127.0.0.1\n"
            "allow_anonymous true\n"
            f"user {getpass.getuser()}\n"  # run as root, Mosquitto would drop to a user who cannot write here
            "persistence true\n"
            f"persistence_location {self._dir}/\n"
            f"log_dest file {self._dir}/mosquitto.log\n"
            "log_type all\n",
            encoding="utf-8",
        )
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    @property
    def log(self) -> str:
        """The broker's own log, for assertion messages."""
        path = self._dir / "mosquitto.log"
        return path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""

    def start(self) -> None:
        if self._process is not None:
            raise RuntimeError(f"broker on port {self.port} is already running")
        self._process = subprocess.Popen(["mosquitto", "-c", str(self._conf)])
        try:
            wait_for_port(self.port, timeout=10.0)
        except TimeoutError:
            self.stop(signal.SIGKILL)
            raise

    def stop(self, sig: signal.Signals = signal.SIGTERM) -> None:
        """SIGTERM lets Mosquitto save its persistence file, as a service manager would."""
        process, self._process = self._process, None
        if process is None:
            return
        stop_process(process, sig)

    def restart(self) -> None:
        self.stop()
        self.start()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


class Recorder:
    """A persistent-session QoS 1 subscriber (MQTT v5) that keeps every message it receives.

    ``clean_start=False`` with a session expiry means messages published while this
    client is cut off (say, across a broker restart) are queued for it, not dropped.
    """

    def __init__(self, port: int, topic: str, client_id: str) -> None:
        self.messages: list[mqtt.MQTTMessage] = []
        self._topic = topic
        self._changed = threading.Condition()
        self._client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
        self._client.on_connect = self._on_connect
        self._client.on_message = self._on_message
        self._client.reconnect_delay_set(min_delay=1, max_delay=1)
        properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]  # paho has no hints here
        properties.SessionExpiryInterval = 300
        self._subscribed = threading.Event()
        self._client.connect("127.0.0.1", port, keepalive=10, clean_start=False, properties=properties)
        self._client.loop_start()
        if not self._subscribed.wait(10.0):
            raise TimeoutError(f"subscriber {client_id} did not subscribe to {topic}")

    def _on_connect(
        self, client: mqtt.Client, userdata: object, flags: object, reason: object, properties: object
    ) -> None:
        client.subscribe(self._topic, qos=1)
        self._subscribed.set()

    def _on_message(self, client: mqtt.Client, userdata: object, message: mqtt.MQTTMessage) -> None:
        with self._changed:
            self.messages.append(message)
            self._changed.notify_all()

    def wait_for(self, predicate: Callable[[list[mqtt.MQTTMessage]], bool], timeout: float) -> bool:
        """True as soon as ``predicate(messages)`` holds; False after ``timeout`` seconds."""
        with self._changed:
            return self._changed.wait_for(lambda: predicate(self.messages), timeout)

    def snapshot(self) -> list[mqtt.MQTTMessage]:
        with self._changed:
            return list(self.messages)

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()
