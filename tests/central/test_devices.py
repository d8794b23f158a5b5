"""``/api/v1/devices`` and ``/api/v1/cameras``: the registry that device status messages keep."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient

from central.services import Services
from contract.topics import Topics
from tests.central.conftest import START, bearer
from tests.central.factories import status

TOPICS = Topics()


def test_devices_and_cameras_show_the_latest_status(client: TestClient, services: Services,
                                                   tokens: dict[str, str]) -> None:
    services.intake.status(TOPICS.status("box-1"), status(sent_at=START).to_json().encode())
    services.intake.status(TOPICS.status("box-2"), status("box-2", "gangzha", START).to_json().encode())
    services.intake.status(TOPICS.status("box-2"), b'{"state":"offline"}')
    later = status(sent_at=START + timedelta(minutes=1)).model_copy(update={"outbox_pending": 0})
    services.intake.status(TOPICS.status("box-1"), later.to_json().encode())
    devices = client.get("/api/v1/devices", headers=bearer(tokens["cg-chongchuan"])).json()
    assert [(d["device_id"], d["state"], d["outbox_pending"]) for d in devices] == [
        ("box-1", "online", 0), ("box-2", "offline", 3)]
    assert devices[0]["cameras"][0]["name"] == "Renmin Rd east"
    cameras = client.get("/api/v1/cameras", headers=bearer(tokens["operator"])).json()
    assert [(c["device_id"], c["camera_id"], c["district"], c["fps"]) for c in cameras] == [
        ("box-1", "cam-1", "chongchuan", 25.0), ("box-2", "cam-1", "gangzha", 25.0)]


def test_devices_cannot_list_the_registry(client: TestClient, tokens: dict[str, str]) -> None:
    assert client.get("/api/v1/devices", headers=bearer(tokens["device"])).status_code == 403
    assert client.get("/api/v1/cameras").status_code == 401
