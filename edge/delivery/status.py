"""The retained device status: refreshed periodically and at once on every (re)connect, so the
central service sees a device come back without waiting a whole interval. The broker's
last will turns it into ``{"state":"offline"}`` when the device vanishes. It carries the disk's
condition too, so a box whose events have started to go without evidence is seen from afar.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import structlog

from contract.status import DeviceState, DeviceStatus, StorageHealth, StorageState
from edge.delivery.health import CameraHealthTracker
from edge.delivery.mqtt_link import MqttLink
from edge.delivery.outbox import Outbox
from edge.evidence.store import MediaStore

log = structlog.get_logger(__name__)


class StatusPublisher:
    """Stop this before the link, so the link's final "offline" is the last word."""

    def __init__(
        self,
        link: MqttLink,
        device_id: str,
        cameras: list[CameraHealthTracker],
        outbox: Outbox,
        interval_s: float,
        version: str,
        *,
        store: MediaStore | None = None,
    ) -> None:
        self._link = link
        self._store = store
        self._device_id = device_id
        self._cameras = cameras
        self._outbox = outbox
        self._interval_s = interval_s
        self._version = version
        self._topic = link.topics.status(device_id)
        self._log = log.bind(device=device_id)
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._link.add_connect_listener(self._wake.set)
        self._thread = threading.Thread(target=self._run, name="status", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(5.0)

    def publish_now(self) -> None:
        """Skipped while disconnected: paho would queue stale copies; the reconnect sends a fresh one."""
        if not self._link.connected:
            return
        self._link.publish(self._topic, self.current().to_json(), retain=True)

    def current(self) -> DeviceStatus:
        return DeviceStatus(
            state=DeviceState.online,
            device_id=self._device_id,
            version=self._version,
            sent_at=datetime.now(UTC),
            outbox_pending=self._outbox.count(),
            cameras=[camera.snapshot() for camera in self._cameras],
            storage=storage_health(self._store, self._outbox) if self._store else None,
        )

    def _run(self) -> None:
        while not self._stopping.is_set():
            self._wake.clear()
            try:
                self.publish_now()
            except Exception:  # the status thread must outlive any one failure
                self._log.exception("status publish failed")
            self._wake.wait(self._interval_s)


def storage_health(store: MediaStore, outbox: Outbox) -> StorageHealth:
    """``full`` once no evidence fits above the free-space floor (even evicting all there is) or the
    outbox has given up its reserve; ``low`` under twice the floor, where evidence makes way for it."""
    free, evidence = store.free_bytes(), store.total_bytes
    if free + evidence <= store.min_free_bytes or not outbox.reserve_intact:
        state = StorageState.full
    elif free < 2 * store.min_free_bytes:
        state = StorageState.low
    else:
        state = StorageState.ok
    return StorageHealth(state=state, free_bytes=free, evidence_bytes=evidence)
