"""Staff approve a building change: central -> MQTT RPC -> the real edge, which re-takes its reference."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from contract.event import DETAILS, Event, EventType, Phase
from contract.topics import Topics
from tests.support.paths import HIGHWAY
from tests.support.rtsp import RtspServer
from tests.support.stack import CentralProcess, EdgeProcess, camera, wait_until

VERGE = [[0.65, 0.3], [1.0, 0.3], [1.0, 0.6], [0.65, 0.6]]


@pytest.fixture(scope="module")
def stack(
    tmp_path_factory: pytest.TempPathFactory, shared_media: Path
) -> Iterator[tuple[CentralProcess, EdgeProcess]]:
    folder = tmp_path_factory.mktemp("approve")
    rtsp = RtspServer({"highway": HIGHWAY}).start()
    central = CentralProcess(folder).start()
    zones = [
        {"id": "verge", "polygon": VERGE, "rules": {"illegal_building": {}}},
        {"id": "kerb", "polygon": [[0, 0.6], [1, 0.6], [1, 1], [0, 1]], "rules": {"illegal_parking": {}}},
    ]
    edge = EdgeProcess(folder, central, "box-b", [camera("cam-b", rtsp.url("highway"), zones=zones)])
    try:
        yield central, edge.start(streaming=["cam-b"])
    finally:
        edge.stop()
        central.stop()
        rtsp.stop()


def open_ticket(central: CentralProcess, kind: EventType, zone: str) -> int:
    """A start event as the edge would send it, published to the broker; returns its ticket's id."""
    now = datetime.now(UTC)
    event = Event(
        event_id=uuid.uuid4(),
        phase=Phase.start,
        type=kind,
        device_id="box-b",
        camera_id="cam-b",
        zone_id=zone,
        started_at=now,
        observed_at=now,
        confidence=0.9,
        details=DETAILS[kind].model_validate({"episode_id": str(uuid.uuid4()), "district": "chongchuan"}),
    )
    client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    client.connect("127.0.0.1", 1883)
    client.loop_start()
    client.publish(Topics(central.prefix).events("box-b"), event.to_json(), qos=1).wait_for_publish(10)
    client.disconnect()
    client.loop_stop()

    def ticket() -> int | None:
        items = central.get(f"/api/v1/tickets?type={kind.value}").json()["items"]
        return next((t["id"] for t in items if t["zone_id"] == zone), None)

    return int(wait_until(ticket, 30, f"a {kind.value} ticket"))


def post(central: CentralProcess, path: str, token: str, body: dict[str, object]) -> httpx.Response:
    return httpx.post(
        central.base_url + path,
        json=body,
        timeout=30,
        headers={"Authorization": f"Bearer {central.tokens[token]}"},
    )


def test_approval_reaches_the_edge_and_is_audited(stack: tuple[CentralProcess, EdgeProcess]) -> None:
    central, edge = stack
    ticket_id = open_ticket(central, EventType.illegal_building, "verge")

    def approve() -> httpx.Response | None:  # 503 until the edge has analysed its first frame
        answer = post(
            central,
            f"/api/v1/tickets/{ticket_id}/approve-reference",
            "operator",
            {"comment": "permit 2026-118"},
        )
        return None if answer.status_code == 503 else answer

    answer = wait_until(approve, 60, "the edge's first analysed frame")
    assert answer.status_code == 200, answer.text
    assert answer.json()["camera_id"] == "cam-b"
    assert answer.json()["zone_id"] == "verge"
    meta = json.loads(
        (
            edge.folder / "box-b-state" / "rules" / "illegal_building" / "cam-b" / "verge" / "reference.json"
        ).read_text()
    )
    assert meta["approved_by"] == "operator"
    history = central.get(f"/api/v1/tickets/{ticket_id}").json()["history"]
    entry = next(h for h in history if h["action"] == "approve_reference")
    assert entry["actor"] == "operator"
    assert "permit 2026-118" in entry["comment"]


@pytest.mark.parametrize(
    ("kind", "zone", "token", "status"),
    [
        (EventType.illegal_parking, "kerb", "operator", 409),  # no reference to approve
        (EventType.illegal_building, "verge", "cg-chongchuan", 403),  # department staff may not
    ],
)
def test_refusals(
    stack: tuple[CentralProcess, EdgeProcess], kind: EventType, zone: str, token: str, status: int
) -> None:
    central, _ = stack
    ticket_id = open_ticket(central, kind, zone)
    assert post(central, f"/api/v1/tickets/{ticket_id}/approve-reference", token, {}).status_code == status


def test_unknown_ticket_is_404(stack: tuple[CentralProcess, EdgeProcess]) -> None:
    central, _ = stack
    assert post(central, "/api/v1/tickets/999999/approve-reference", "admin", {}).status_code == 404
