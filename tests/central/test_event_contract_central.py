"""The centre's side of the event contract: it serves the type catalogue, reads typed details, keeps
the detail keys an older edge adds, and refuses a known key of the wrong shape."""

from __future__ import annotations

import json
import uuid
from typing import Any

import sqlalchemy as sa
from fastapi.testclient import TestClient

from central.ingest import Outcome
from central.models import Event as EventRow
from central.models import Ticket
from central.services import Services
from contract.event_types import CATALOGUE
from contract.topics import Topics
from tests.central.conftest import START

TOPICS = Topics()


def sent(type_: str = "illegal_parking", **details: Any) -> bytes:
    """An event as an edge of the first schema publishes it."""
    return json.dumps(
        {
            "schema": "gridwatch.event/1",
            "event_id": str(uuid.uuid4()),
            "phase": "start",
            "type": type_,
            "device_id": "box-1",
            "camera_id": "cam-1",
            "zone_id": "zone-1",
            "started_at": START.isoformat(),
            "observed_at": START.isoformat(),
            "confidence": 0.9,
            "details": details,
        }
    ).encode()


def test_the_catalogue_is_served_to_the_console_without_a_login(client: TestClient) -> None:
    answer = client.get("/api/v1/event-types")
    assert answer.status_code == 200
    served = answer.json()
    assert [t["key"] for t in served] == [t.value for t in CATALOGUE]
    assert served[0]["names"] == {"en": "Illegal parking", "zh": "违停"}
    assert {t["merge_by"] for t in served} == {"zone", "site"}


def test_open311_lists_one_service_per_catalogued_type(client: TestClient) -> None:
    services = client.get("/open311/v2/services.json").json()
    assert [(s["service_code"], s["description"]) for s in services] == [
        (t.key.value, t.description) for t in CATALOGUE.values()
    ]


def test_an_older_edges_extra_detail_key_is_stored_with_the_event(services: Services) -> None:
    payload = sent(label="car", episode_id="ep-1", firmware_note={"v": [1, 2]})
    assert services.intake.event(TOPICS.events("box-1"), payload) is Outcome.stored
    with services.sessions() as session:
        row = session.scalars(sa.select(EventRow)).one()
        ticket = session.scalars(sa.select(Ticket)).one()
    assert row.episode_id == "ep-1"
    assert row.details == {"label": "car", "episode_id": "ep-1", "firmware_note": {"v": [1, 2]}}
    assert ticket.description == "Illegal parking (违停) at cam-1, zone zone-1"


def test_a_known_detail_key_of_the_wrong_shape_is_malformed(services: Services) -> None:
    assert services.intake.event(TOPICS.events("box-1"), sent(episode_id=["ep"])) is Outcome.malformed
    assert services.intake.event(TOPICS.events("box-1"), sent("dust", site={"x": 1})) is Outcome.malformed
    assert services.intake.counts() == {"events_malformed": 2}


def test_the_map_position_comes_from_the_typed_location(services: Services) -> None:
    payload = sent("dust", location={"lat": 32.01, "lon": 120.86})
    assert services.intake.event(TOPICS.events("box-1"), payload) is Outcome.stored
    with services.sessions() as session:
        ticket = session.scalars(sa.select(Ticket)).one()
    assert (ticket.lat, ticket.lon) == (32.01, 120.86)
