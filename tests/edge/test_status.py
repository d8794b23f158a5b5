"""The retained status: online with camera health while the agent lives, offline when it dies."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from contract.event import MediaKind
from contract.status import CameraState, DeviceState, DeviceStatus, StorageState
from edge.config import MqttConfig
from edge.delivery.health import CameraHealthTracker
from edge.delivery.mqtt_link import MqttLink
from edge.delivery.outbox import Outbox
from edge.delivery.status import StatusPublisher, storage_health
from edge.evidence.store import MediaStore
from tests.edge.test_outbox import TOPIC, make_event
from tests.support.broker import Broker, Recorder
from tests.support.small_fs import MB, fill, free_bytes, small_filesystem

STATUS = "gridwatch/v1/devices/{device}/status"


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    with Broker(tmp_path) as running:
        yield running


def watch(broker: Broker, device: str) -> Recorder:
    return Recorder(broker.port, STATUS.format(device=device), client_id=f"watch-{uuid.uuid4().hex[:8]}")


def test_a_retained_status_carries_camera_health_and_ends_offline(tmp_path: Path, broker: Broker) -> None:
    camera = CameraHealthTracker("cam-1", name="Renmin Rd", district="chongchuan")
    camera.set_state(CameraState.streaming)
    camera.reconnected()
    outbox = Outbox(tmp_path / "outbox.db")
    outbox.put(TOPIC, make_event())
    link = MqttLink(MqttConfig(url=broker.url, keepalive_s=5), "dev-s")
    status = StatusPublisher(link, "dev-s", [camera], outbox, interval_s=0.2, version="0.1.0")
    link.start()
    status.start()
    try:
        live = watch(broker, "dev-s")
        assert live.wait_for(lambda got: len(got) >= 2, timeout=10), "no periodic refresh"
        live.close()

        late = watch(broker, "dev-s")  # subscribes after the fact: sees the retained copy
        assert late.wait_for(lambda got: len(got) >= 1, timeout=5)
        first = late.snapshot()[0]
        late.close()
        assert first.retain
        current = DeviceStatus.model_validate_json(first.payload)
        assert (current.state, current.device_id, current.version) == (DeviceState.online, "dev-s", "0.1.0")
        assert current.outbox_pending == 1
        [health] = current.cameras
        assert (health.camera_id, health.state, health.reconnects) == ("cam-1", CameraState.streaming, 1)
    finally:
        status.stop()
        link.stop()

    after = watch(broker, "dev-s")
    assert after.wait_for(lambda got: len(got) >= 1, timeout=5)
    final = DeviceStatus.model_validate_json(after.snapshot()[0].payload)
    after.close()
    assert (final.state, final.device_id) == (DeviceState.offline, "dev-s")


def test_a_fresh_status_follows_every_reconnect(tmp_path: Path, broker: Broker) -> None:
    link = MqttLink(MqttConfig(url=broker.url, keepalive_s=5), "dev-r", reconnect_max_s=1)
    status = StatusPublisher(
        link, "dev-r", [], Outbox(tmp_path / "outbox.db"), interval_s=3600, version="0.1.0"
    )
    link.start()
    status.start()
    try:
        first = watch(broker, "dev-r")
        assert first.wait_for(lambda got: len(got) >= 1, timeout=10)
        first.close()
        broker.restart()
        restarted = datetime.now(UTC)

        again = watch(broker, "dev-r")
        assert again.wait_for(lambda got: any(online_since(m.payload, restarted) for m in got), timeout=10)
        again.close()
    finally:
        status.stop()
        link.stop()


def online_since(payload: bytes | bytearray, moment: datetime) -> bool:
    """Mosquitto publishes the will of clients it drops on shutdown: that copy has no sent_at."""
    status = DeviceStatus.model_validate_json(payload)
    return status.state is DeviceState.online and status.sent_at is not None and status.sent_at > moment


_AGENT = """
import sys
from datetime import UTC, datetime
from pathlib import Path
from edge.config import MqttConfig
from edge.delivery.health import CameraHealthTracker
from edge.delivery.mqtt_link import MqttLink
from edge.delivery.outbox import Outbox
from edge.delivery.status import StatusPublisher

link = MqttLink(MqttConfig(url=sys.argv[1], keepalive_s=5), "dev-k")
outbox = Outbox(Path(sys.argv[2]))
status = StatusPublisher(link, "dev-k", [CameraHealthTracker("cam-1")], outbox, 60.0, "0.1.0")
link.start()
status.start()
sys.stdin.read()  # until killed
"""


def test_a_killed_agent_is_marked_offline_by_its_last_will(tmp_path: Path, broker: Broker) -> None:
    root = Path(__file__).resolve().parents[2]
    with subprocess.Popen(
        [sys.executable, "-c", _AGENT, broker.url, str(tmp_path / "outbox.db")],
        cwd=root,
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
    ) as agent:
        status = watch(broker, "dev-k")
        try:
            assert status.wait_for(lambda got: any(b'"online"' in m.payload for m in got), timeout=15)
            agent.send_signal(signal.SIGKILL)
            agent.wait()

            assert status.wait_for(
                lambda got: json.loads(got[-1].payload) == {"state": "offline"}, timeout=15
            )
        finally:
            agent.kill()
            status.close()


def test_the_storage_condition_goes_from_ok_to_low_to_full_as_the_disk_fills(tmp_path: Path) -> None:
    with small_filesystem(tmp_path / "disk", 20) as disk:
        store = MediaStore(disk / "media", 10**12, min_free_bytes=4 * MB)
        outbox = Outbox(disk / "outbox.sqlite3", reserve_bytes=MB, make_room=store.free_up)
        store.put_bytes(b"j" * MB, MediaKind.snapshot, "image/jpeg")
        ok = storage_health(store, outbox)
        assert (ok.state, ok.evidence_bytes) == (StorageState.ok, MB)
        assert abs(ok.free_bytes - free_bytes(disk)) < 100_000

        fill(disk, leave=6 * MB)  # under twice the floor: evidence now makes way for free space
        assert storage_health(store, outbox).state is StorageState.low

        fill(disk)  # even evicting all evidence would not lift it above the floor
        full = storage_health(store, outbox)
        assert (full.state, full.free_bytes) == (StorageState.full, 0)
        outbox.close()
