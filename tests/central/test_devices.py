"""``/api/v1/devices`` and ``/api/v1/cameras``: the registry that device status messages keep."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from central.auth import Role, create_token
from central.ingest import Outcome
from central.services import Services
from contract.status import CameraHealth, CameraState, DeviceState, DeviceStatus, StorageHealth, StorageState
from contract.topics import Topics
from tests.central.conftest import START, bearer
from tests.central.factories import status

TOPICS = Topics()


def test_devices_and_cameras_show_the_latest_status(
    client: TestClient, services: Services, tokens: dict[str, str]
) -> None:
    services.intake.status(TOPICS.status("box-1"), status(sent_at=START).to_json().encode())
    services.intake.status(
        TOPICS.status("box-2"), status("box-2", "gangzha", START, camera="cam-2").to_json().encode()
    )
    services.intake.status(TOPICS.status("box-2"), b'{"state":"offline"}')
    later = status(sent_at=START + timedelta(minutes=1)).model_copy(update={"outbox_pending": 0})
    services.intake.status(TOPICS.status("box-1"), later.to_json().encode())
    devices = client.get("/api/v1/devices", headers=bearer(tokens["admin"])).json()
    assert [(d["device_id"], d["state"], d["outbox_pending"]) for d in devices] == [
        ("box-1", "online", 0),
        ("box-2", "offline", 3),
    ]
    assert devices[0]["cameras"][0]["name"] == "Renmin Rd east"
    cameras = client.get("/api/v1/cameras", headers=bearer(tokens["operator"])).json()
    assert [(c["device_id"], c["camera_id"], c["district"], c["fps"]) for c in cameras] == [
        ("box-1", "cam-1", "chongchuan", 25.0),
        ("box-2", "cam-2", "gangzha", 25.0),
    ]


def test_devices_cannot_list_the_registry(client: TestClient, tokens: dict[str, str]) -> None:
    assert client.get("/api/v1/devices", headers=bearer(tokens["device"])).status_code == 403
    assert client.get("/api/v1/cameras").status_code == 401


def test_departments_see_only_the_devices_and_cameras_of_their_districts(
    client: TestClient, services: Services, tokens: dict[str, str]
) -> None:
    """A department's districts are those its routes send it tickets from; ``*`` routes cover the rest."""
    two_districts = status("box-1", "chongchuan")
    two_districts = two_districts.model_copy(
        update={
            "cameras": [
                *two_districts.cameras,
                CameraHealth(camera_id="cam-4", district="gangzha", state=CameraState.streaming),
            ]
        }
    )
    for message in (
        two_districts,
        status("box-2", "gangzha", camera="cam-2"),
        status("box-3", "haimen", camera="cam-3"),
        status("box-5", None, camera="cam-5"),
    ):
        assert message.device_id is not None
        services.intake.status(TOPICS.status(message.device_id), message.to_json().encode())

    with services.sessions.begin() as session:
        holders = {
            **tokens,
            "cg-city": create_token(session, services.clock, Role.department, "city", "cg-city"),
        }

    def seen(holder: str) -> tuple[list[tuple[str, list[str]]], list[str]]:
        devices = client.get("/api/v1/devices", headers=bearer(holders[holder])).json()
        cameras = client.get("/api/v1/cameras", headers=bearer(holders[holder])).json()
        return (
            [(d["device_id"], [c["camera_id"] for c in d["cameras"]]) for d in devices],
            [c["camera_id"] for c in cameras],
        )

    assert seen("cg-chongchuan") == ([("box-1", ["cam-1"])], ["cam-1"])
    assert seen("env-chongchuan") == ([("box-1", ["cam-1"])], ["cam-1"])
    assert seen("cg-gangzha") == ([("box-1", ["cam-4"]), ("box-2", ["cam-2"])], ["cam-4", "cam-2"])
    assert seen("cg-city") == ([("box-3", ["cam-3"]), ("box-5", ["cam-5"])], ["cam-3", "cam-5"])
    assert seen("operator") == (
        [("box-1", ["cam-1", "cam-4"]), ("box-2", ["cam-2"]), ("box-3", ["cam-3"]), ("box-5", ["cam-5"])],
        ["cam-1", "cam-4", "cam-2", "cam-3", "cam-5"],
    )


def storage_of(client: TestClient, token: str) -> dict[str, Any]:
    return {d["device_id"]: d["storage"] for d in client.get("/api/v1/devices", headers=bearer(token)).json()}


def test_devices_show_the_disk_their_latest_status_reported(
    client: TestClient, services: Services, tokens: dict[str, str]
) -> None:
    """An edge that stopped reporting its disk (downgraded) shows none, not a stale reading; an offline
    status (the last will, or the edge's own on a clean stop) keeps the last reading, the best there is
    of an unreachable box."""
    full = StorageHealth(state=StorageState.full, free_bytes=3 * 2**40, evidence_bytes=2**33)
    reporting = status(sent_at=START).model_copy(update={"storage": full})
    services.intake.status(TOPICS.status("box-1"), reporting.to_json().encode())
    services.intake.status(TOPICS.status("box-2"), status("box-2", camera="cam-2").to_json().encode())
    assert storage_of(client, tokens["operator"]) == {
        "box-1": {"state": "full", "free_bytes": 3 * 2**40, "evidence_bytes": 2**33},
        "box-2": None,
    }
    services.intake.status(TOPICS.status("box-1"), b'{"state":"offline"}')
    assert storage_of(client, tokens["cg-chongchuan"])["box-1"] == {
        "state": "full",
        "free_bytes": 3 * 2**40,
        "evidence_bytes": 2**33,
    }
    stopped = DeviceStatus(
        state=DeviceState.offline, device_id="box-1", sent_at=START + timedelta(seconds=30)
    )
    services.intake.status(
        TOPICS.status("box-1"), stopped.to_json().encode()
    )  # an edge's clean stop says this
    assert storage_of(client, tokens["operator"])["box-1"] == {
        "state": "full",
        "free_bytes": 3 * 2**40,
        "evidence_bytes": 2**33,
    }
    older_edge = status(sent_at=START + timedelta(minutes=1)).model_dump(mode="json", by_alias=True)
    del older_edge["storage"]
    services.intake.status(TOPICS.status("box-1"), json.dumps(older_edge).encode())
    assert storage_of(client, tokens["operator"]) == {"box-1": None, "box-2": None}


@pytest.mark.parametrize(
    "storage",
    [
        {"state": "melting", "free_bytes": 1, "evidence_bytes": 1},
        {"state": "low", "free_bytes": -1, "evidence_bytes": 1},
        {"state": "low", "free_bytes": 1, "evidence_bytes": 2**63},
        {"state": "low", "free_bytes": 1.5, "evidence_bytes": 1},
        {"state": "low", "free_bytes": 1},
        "full",
    ],
)
def test_a_status_with_a_disk_the_registry_cannot_hold_is_refused_whole(
    client: TestClient, services: Services, tokens: dict[str, str], storage: Any
) -> None:
    """Refused as malformed (never a failed insert): the record keeps the last good status, and the
    next good one is stored."""
    first = status(sent_at=START).model_copy(
        update={"storage": StorageHealth(state=StorageState.ok, free_bytes=2**35, evidence_bytes=0)}
    )
    assert services.intake.status(TOPICS.status("box-1"), first.to_json().encode()) is Outcome.stored
    bad = status(sent_at=START + timedelta(minutes=1)).model_dump(mode="json", by_alias=True)
    bad.update(storage=storage, outbox_pending=0)
    assert services.intake.status(TOPICS.status("box-1"), json.dumps(bad).encode()) is Outcome.malformed
    [device] = client.get("/api/v1/devices", headers=bearer(tokens["admin"])).json()
    assert (device["outbox_pending"], device["storage"]) == (
        3,
        {"state": "ok", "free_bytes": 2**35, "evidence_bytes": 0},
    )
    largest = StorageHealth(state=StorageState.low, free_bytes=2**63 - 1, evidence_bytes=2**63 - 1)
    good = status(sent_at=START + timedelta(minutes=2)).model_copy(update={"storage": largest})
    assert services.intake.status(TOPICS.status("box-1"), good.to_json().encode()) is Outcome.stored
    assert storage_of(client, tokens["admin"])["box-1"] == {
        "state": "low",
        "free_bytes": 2**63 - 1,
        "evidence_bytes": 2**63 - 1,
    }
    assert services.intake.counts() == {"status_stored": 2, "status_malformed": 1}
