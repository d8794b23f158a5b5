"""``gridwatch-edge run`` as a real process: a GStreamer RTSP camera in, Mosquitto out.

The sample car park (parking_row.mp4, a time-lapse) loops on the RTSP server; with a
2-second dwell the cars that stand still for a few seconds of it become events.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import av
import cv2
import paho.mqtt.client as mqtt
import pytest
import yaml
from paho.mqtt.enums import CallbackAPIVersion

from contract.event import Event, IllegalParkingDetails
from contract.status import CameraHealth, CameraState, DeviceStatus
from tests.support.paths import PARKING_ROW, ROOT
from tests.support.rtsp import RtspServer
from tests.support.stack import wait_until

PARKED_ROW = [[0.0, 0.62], [0.78, 0.62], [0.78, 0.92], [0.0, 0.92]]
PRE_S, POST_S = 2.0, 2.0
TIME_LAPSE_PARKING = {"dwell_s": 2, "grace_s": 2, "min_similarity": -1, "min_presence": 0}
"""parking_row.mp4 is a rainy time-lapse: a parked car's pixels change from frame to frame and the
detector flickers, so the appearance and presence checks (made for real-time cameras) are off."""


def distinct_vehicles(events: list[Event]) -> int:
    """Starts at different places: a vehicle counts once however often the loop brings it back."""
    centres: list[tuple[float, float, float]] = []
    for event in events:
        assert isinstance(event.details, IllegalParkingDetails)
        assert event.details.bbox is not None
        x1, y1, x2, y2 = event.details.bbox
        cx, cy, half = (x1 + x2) / 2, (y1 + y2) / 2, (x2 - x1) / 2
        if all(abs(cx - x) > min(half, h) or abs(cy - y) > min(half, h) for x, y, h in centres):
            centres.append((cx, cy, half))
    return len(centres)


class Subscriber:
    """Everything on the test's own topic prefix of the machine's Mosquitto."""

    def __init__(self, prefix: str) -> None:
        self.events: list[Event] = []
        self.status: list[DeviceStatus] = []
        self._client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
        self._client.on_message = self._on_message
        self._client.connect("127.0.0.1", 1883)
        self._client.subscribe(f"{prefix}/devices/+/#", qos=1)
        self._client.loop_start()

    def _on_message(self, client: mqtt.Client, userdata: object, message: mqtt.MQTTMessage) -> None:
        if message.topic.endswith("/events"):
            self.events.append(Event.from_json(bytes(message.payload)))
        elif message.topic.endswith("/status"):
            self.status.append(DeviceStatus.model_validate_json(message.payload))

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()


Live = tuple[RtspServer, Subscriber, Path, "subprocess.Popen[bytes]"]
"""The live fixture: the RTSP server, the event subscriber, the edge's folder and its process."""


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory, model_path: Path) -> Iterator[Live]:
    folder = tmp_path_factory.mktemp("live")
    prefix = f"gridwatch-test/{uuid.uuid4().hex[:8]}"
    camera = RtspServer({"parking": PARKING_ROW}).start()
    config = {
        "device_id": "live-box",
        "central": {"url": None},
        "mqtt": {"url": "mqtt://127.0.0.1:1883", "topic_prefix": prefix, "status_interval_s": 1},
        "model": {"path": str(model_path)},
        "storage": {"dir": str(folder / "state")},
        "evidence": {"pre_s": PRE_S, "post_s": POST_S},
        "cameras": [
            {
                "id": "parking",
                "source": camera.url("parking"),
                "analysis_fps": 5,
                "reader": {
                    "connect_timeout_s": 3,
                    "stall_timeout_s": 3,
                    "backoff_initial_s": 0.5,
                    "backoff_max_s": 2,
                },
                "zones": [
                    {"id": "row", "polygon": PARKED_ROW, "rules": {"illegal_parking": TIME_LAPSE_PARKING}}
                ],
            }
        ],
    }
    path = folder / "edge.yaml"
    path.write_text(yaml.safe_dump(config))
    subscriber = Subscriber(prefix)
    log = (folder / "edge.log").open("wb")
    edge = subprocess.Popen(
        [sys.executable, "-m", "edge", "run", "--config", str(path)],
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        yield camera, subscriber, folder, edge
    finally:
        if edge.poll() is None:
            edge.kill()
        subscriber.close()
        camera.stop()
        log.close()


def test_parked_cars_become_start_events_with_evidence(live: Live) -> None:
    _camera, subscriber, folder, _edge = live

    def starts() -> list[Event]:
        return [e for e in subscriber.events if e.phase.value == "start"]

    wait_until(lambda: distinct_vehicles(starts()) >= 5, 240, "start events for five distinct vehicles")
    assert len({e.event_id for e in subscriber.events}) == len(subscriber.events)
    media_dir = folder / "state" / "media"
    for event in starts()[:5]:
        assert event.device_id == "live-box"
        assert event.camera_id == "parking"
        assert event.zone_id == "row"
        assert isinstance(event.details, IllegalParkingDetails)
        assert event.details.dwell_s is not None
        assert event.details.dwell_s >= 2.0
        assert event.details.label in {
            "car",
            "truck",
            "bus",
            "motorcycle",
        }
        kinds = sorted(m.label or "" for m in event.media)
        assert kinds == ["arrival", "clip", "dwell"], kinds
        for media in event.media:
            path = next(media_dir.glob(f"{media.sha256}.*"))
            assert path.stat().st_size == media.bytes
            if media.kind.value == "snapshot":
                image = cv2.imread(str(path))
                assert image is not None
                assert image.shape[:2] == (320, 576)
            else:
                with av.open(str(path)) as clip:
                    assert clip.duration is not None
                    duration = float(clip.duration / av.time_base)
                    frames = sum(1 for _ in clip.decode(video=0))
                assert abs(duration - (PRE_S + POST_S)) <= 1.0, duration
                assert frames > 0


def test_camera_outage_is_survived_and_shown_in_status(live: Live) -> None:
    camera, subscriber, _folder, _edge = live

    def health() -> CameraHealth | None:
        return (
            subscriber.status[-1].cameras[0] if subscriber.status and subscriber.status[-1].cameras else None
        )

    def streaming(reconnects_above: int = -1) -> CameraHealth | None:
        current = health()
        ok = (
            current is not None
            and current.state == CameraState.streaming
            and current.reconnects > reconnects_above
        )
        return current if ok else None

    before = wait_until(streaming, 60, "streaming").reconnects
    camera.stop()
    wait_until(lambda: streaming() is None, 30, "the outage in the status")
    camera.start()
    wait_until(lambda: streaming(before), 60, "streaming again after a reconnect")
    seen = len(subscriber.events)
    wait_until(lambda: len(subscriber.events) > seen, 120, "events after the reconnect")


def test_sigterm_after_sigcont_stops_cleanly_and_marks_the_device_offline(live: Live) -> None:
    """Frozen, then SIGCONT and SIGTERM back to back (a service manager stopping a hung box): a SIGTERM the
    kernel hands to a thread other than the main one must stop the agent all the same."""
    _camera, subscriber, folder, edge = live
    edge.send_signal(signal.SIGSTOP)
    wait_until(
        lambda: Path(f"/proc/{edge.pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "T",
        5,
        "the edge to stop",
    )
    edge.send_signal(signal.SIGCONT)
    edge.send_signal(signal.SIGTERM)
    assert edge.wait(timeout=60) == 0, (folder / "edge.log").read_text()[-3000:]
    wait_until(
        lambda: subscriber.status and subscriber.status[-1].state.value == "offline", 10, "the offline status"
    )
    assert "agent stopped" in (folder / "edge.log").read_text()
