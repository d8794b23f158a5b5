"""The Open311 GeoReport v2 view: services, filing a request, reading it back with every field."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from central.clock import FrozenClock
from central.services import Services
from tests.central.conftest import bearer

GEOREPORT_FIELDS = {
    "service_request_id",
    "status",
    "status_notes",
    "service_name",
    "service_code",
    "description",
    "agency_responsible",
    "service_notice",
    "requested_datetime",
    "updated_datetime",
    "expected_datetime",
    "address",
    "address_id",
    "zipcode",
    "lat",
    "long",
    "media_url",
}
FORM = {
    "service_code": "illegal_parking",
    "lat": "32.0123",
    "long": "120.8641",
    "address_string": "Renmin Rd 88",
    "description": "a van on the pavement",
    "attribute[district]": "gangzha",
    "media_url": "https://hotline.example/photo/1.jpg",
}


def file_request(client: TestClient, api_key: str, **changes: str) -> tuple[int, list[dict[str, Any]]]:
    """The status and GeoReport's answer: a list of receipts, or of errors."""
    response = client.post("/open311/v2/requests.json", data={**FORM, **changes, "api_key": api_key})
    return response.status_code, response.json()


def test_services_list_one_service_per_event_type(client: TestClient) -> None:
    services = client.get("/open311/v2/services.json").json()
    assert {s["service_code"] for s in services} == {"illegal_parking", "dust", "illegal_building"}
    assert all(s["type"] == "realtime" and s["metadata"] is False for s in services)


def test_a_filed_request_becomes_a_routed_ticket(client: TestClient, tokens: dict[str, str]) -> None:
    code, body = file_request(client, tokens["operator"])
    assert code == 201
    [receipt] = body
    ticket = client.get(
        f"/api/v1/tickets/{receipt['service_request_id']}", headers=bearer(tokens["admin"])
    ).json()
    assert (ticket["type"], ticket["source"], ticket["department"], ticket["status"]) == (
        "illegal_parking",
        "open311",
        "cg-gangzha",
        "new",
    )
    assert (ticket["lat"], ticket["lon"], ticket["address"]) == (32.0123, 120.8641, "Renmin Rd 88")
    assert ticket["history"][0]["actor"] == "operator"


def test_a_request_reads_back_with_every_georeport_field(
    client: TestClient, tokens: dict[str, str], clock: FrozenClock
) -> None:
    _, body = file_request(client, tokens["operator"])
    request_id = body[0]["service_request_id"]
    clock.advance(timedelta(minutes=3))
    client.post(
        f"/api/v1/tickets/{request_id}/actions",
        json={"action": "dispatch", "comment": "to Gangzha"},
        headers=bearer(tokens["operator"]),
    )
    response = client.get(f"/open311/v2/requests/{request_id}.json", params={"api_key": tokens["operator"]})
    [request] = response.json()
    assert set(request) == GEOREPORT_FIELDS
    assert request["status"] == "open"
    assert request["status_notes"] == "gridwatch status: dispatched; to Gangzha"
    assert request["agency_responsible"] == "港闸区城市管理局 (Gangzha city management)"
    assert request["requested_datetime"] == "2026-05-01T08:00:00+00:00"
    assert request["updated_datetime"] == "2026-05-01T08:03:00+00:00"
    assert request["expected_datetime"] == "2026-05-01T10:03:00+00:00"
    assert (request["lat"], request["long"], request["media_url"]) == (32.0123, 120.8641, FORM["media_url"])


def test_rejected_requests_read_as_closed(client: TestClient, tokens: dict[str, str]) -> None:
    _, body = file_request(client, tokens["operator"])
    request_id = body[0]["service_request_id"]
    client.post(
        f"/api/v1/tickets/{request_id}/actions",
        json={"action": "reject", "comment": "no van there"},
        headers=bearer(tokens["operator"]),
    )
    closed = client.get(
        "/open311/v2/requests.json", params={"status": "closed"}, headers=bearer(tokens["operator"])
    ).json()
    assert [(r["service_request_id"], r["status"]) for r in closed] == [(request_id, "closed")]
    assert (
        client.get(
            "/open311/v2/requests.json", params={"status": "open"}, headers=bearer(tokens["operator"])
        ).json()
        == []
    )


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"service_code": "graffiti"}, 400),
        ({"lat": "", "long": "", "address_string": ""}, 400),
        ({"lat": "north"}, 400),
    ],
)
def test_bad_requests_are_400_and_file_nothing(
    client: TestClient, services: Services, tokens: dict[str, str], changes: dict[str, str], code: int
) -> None:
    status, body = file_request(client, tokens["operator"], **changes)
    assert status == code
    [error] = body
    assert error["code"] == code, "GeoReport's error shape"
    assert error["description"], "GeoReport's error shape"
    assert client.get("/open311/v2/requests.json", headers=bearer(tokens["admin"])).json() == []


@pytest.mark.parametrize(("who", "code"), [(None, 401), ("cg-chongchuan", 403), ("device", 403)])
def test_open311_needs_a_staff_key(
    client: TestClient, tokens: dict[str, str], who: str | None, code: int
) -> None:
    status, _ = file_request(client, tokens[who] if who else "")
    assert status == code


def test_unknown_request_is_a_georeport_404_and_bad_dates_a_400(
    client: TestClient, tokens: dict[str, str]
) -> None:
    missing = client.get("/open311/v2/requests/424242.json", headers=bearer(tokens["operator"]))
    assert (missing.status_code, missing.json()) == (
        404,
        [{"code": 404, "description": "no service request 424242"}],
    )
    naive = client.get(
        "/open311/v2/requests.json",
        params={"start_date": "2026-05-01T08:00:00"},
        headers=bearer(tokens["operator"]),
    )
    assert naive.status_code == 400
    assert "start_date" in naive.json()[0]["description"]
    assert client.get("/api/v1/tickets/424242", headers=bearer(tokens["admin"])).json() == {
        "detail": "no ticket 424242"
    }, "the rest of the API keeps FastAPI's error shape"
