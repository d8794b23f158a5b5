"""Devices do not speak for the centre: a camera id belongs to the first device that reported it, and
the centre's record of that camera (not an event's details) decides district, site and merging."""

from __future__ import annotations

import sqlalchemy as sa
from fastapi.testclient import TestClient

from central.ingest import Outcome
from central.models import Camera, Device, Ticket
from central.models import Event as EventRow
from central.services import Services
from contract.event import Event
from contract.status import CameraHealth, CameraState, DeviceState, DeviceStatus
from contract.topics import Topics
from tests.central.conftest import START, bearer
from tests.central.factories import event, status

TOPICS = Topics()


def deliver(services: Services, *events: Event) -> list[Outcome]:
    return [services.intake.event(TOPICS.events(e.device_id), e.to_json().encode()) for e in events]


def report(services: Services, message: DeviceStatus) -> Outcome:
    assert message.device_id is not None
    return services.intake.status(TOPICS.status(message.device_id), message.to_json().encode())


def tickets(services: Services) -> list[Ticket]:
    with services.sessions() as session:
        return list(session.scalars(sa.select(Ticket).order_by(Ticket.id)))


def cameras(services: Services) -> list[tuple[str, str, str | None, str | None]]:
    with services.sessions() as session:
        rows = session.scalars(sa.select(Camera).order_by(Camera.camera_id, Camera.device_id))
        return [(c.device_id, c.camera_id, c.district, c.site) for c in rows]


def states(services: Services) -> list[tuple[str, str, str]]:
    with services.sessions() as session:
        rows = session.execute(
            sa.select(Device.device_id, Device.state, Camera.state).join(Camera).order_by(Device.device_id)
        )
        return [(device, device_state, camera_state) for device, device_state, camera_state in rows]


def test_the_registry_decides_the_district_whatever_the_event_says(services: Services) -> None:
    assert report(services, status(district="gangzha")) is Outcome.stored
    assert deliver(services, event(district="chongchuan")) == [Outcome.stored]
    [ticket] = tickets(services)
    assert (ticket.district, ticket.department) == ("gangzha", "cg-gangzha")


def test_a_camera_first_seen_in_an_event_keeps_the_district_it_was_first_reported_with(
    services: Services,
) -> None:
    deliver(services, event(district="gangzha"), event(zone="zone-2", district="chongchuan"))
    assert [(t.district, t.department) for t in tickets(services)] == [("gangzha", "cg-gangzha")] * 2
    assert cameras(services) == [("box-1", "cam-1", "gangzha", None)]


def test_the_owners_status_moves_its_camera_to_another_district(services: Services) -> None:
    deliver(services, event(district="gangzha"))
    assert states(services) == [("box-1", "unknown", "unknown")], "known from an event alone: not said online"
    report(services, status(district="chongchuan"))
    assert states(services) == [("box-1", "online", "streaming")]
    deliver(services, event(zone="zone-2", district="gangzha"))
    assert [t.department for t in tickets(services)] == ["cg-gangzha", "cg-chongchuan"]


def test_an_event_for_another_devices_camera_is_refused_and_counted(
    services: Services, client: TestClient, tokens: dict[str, str]
) -> None:
    assert deliver(services, event(district="chongchuan")) == [Outcome.stored]  # box-1 owns cam-1 now
    forged = [
        event(device="box-2", district="gangzha"),
        event(device="box-2", phase="update", district="gangzha"),
    ]
    assert deliver(services, *forged) == [Outcome.refused] * 2
    assert services.intake.counts() == {"events_stored": 1, "events_refused": 2}
    shown = client.get("/api/v1/stats/ingest", headers=bearer(tokens["operator"])).json()["counts"]
    assert shown == {"events_stored": 1, "events_refused": 2}
    [ticket] = tickets(services)
    assert (ticket.device_id, ticket.event_count, ticket.department) == ("box-1", 1, "cg-chongchuan")
    with services.sessions() as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(EventRow)) == 1
    assert cameras(services) == [("box-1", "cam-1", "chongchuan", None)]


def test_a_status_cannot_take_over_another_devices_camera(services: Services) -> None:
    report(services, status("box-1", "chongchuan"))
    takeover = status("box-2", "gangzha").model_copy(
        update={
            "cameras": [
                *status("box-2", "gangzha").cameras,
                CameraHealth(camera_id="cam-2", district="gangzha", state=CameraState.streaming),
            ]
        }
    )
    assert report(services, takeover) is Outcome.stored, "box-2's own camera is still recorded"
    assert services.intake.counts() == {"status_stored": 2, "cameras_refused": 1}
    assert cameras(services) == [("box-1", "cam-1", "chongchuan", None), ("box-2", "cam-2", "gangzha", None)]
    assert deliver(services, event(device="box-2")) == [Outcome.refused]


def test_the_last_will_of_a_device_needs_no_camera(services: Services) -> None:
    report(services, status("box-1"))
    assert services.intake.status(TOPICS.status("box-2"), b'{"state":"offline"}') is Outcome.stored
    assert cameras(services) == [("box-1", "cam-1", "chongchuan", None)]


def test_a_device_cannot_merge_its_events_into_another_devices_site(services: Services) -> None:
    deliver(services, event(type_="dust", district="chongchuan", site="site-7"))
    intruder = event(
        type_="dust", device="box-2", camera="cam-9", zone="zone-9", district="chongchuan", site="site-7"
    )
    assert deliver(services, intruder) == [Outcome.stored]
    assert [(t.device_id, t.site, t.event_count) for t in tickets(services)] == [
        ("box-1", "site-7", 1),
        ("box-2", "site-7", 1),
    ]


def test_a_site_is_the_first_one_reported_for_the_camera(services: Services) -> None:
    """The status does not carry sites: a camera registered by status takes the first site its events name."""
    report(services, status("box-1", "chongchuan"))
    deliver(
        services,
        event(type_="dust", site="site-7"),
        event(type_="dust", camera="cam-2", zone="zone-2", site="site-7", district="chongchuan"),
        event(type_="dust", zone="zone-3", site="site-8"),
    )
    [ticket] = tickets(services)
    assert (ticket.site, ticket.event_count) == ("site-7", 3)
    assert cameras(services) == [
        ("box-1", "cam-1", "chongchuan", "site-7"),
        ("box-1", "cam-2", "chongchuan", "site-7"),
    ]


def test_a_refused_camera_is_named_in_the_devices_own_status_again_without_harm(services: Services) -> None:
    report(services, status("box-1", "chongchuan"))
    for minute in range(3):
        later = status("box-2", "gangzha", START.replace(minute=minute), DeviceState.online)
        assert report(services, later) is Outcome.stored
    assert services.intake.counts() == {"status_stored": 4, "cameras_refused": 3}
    assert cameras(services) == [("box-1", "cam-1", "chongchuan", None)]


def test_an_admin_releases_a_camera_and_the_next_device_to_report_it_owns_it(
    services: Services, client: TestClient, tokens: dict[str, str]
) -> None:
    deliver(services, event(district="chongchuan"))
    moved = event(device="box-2", zone="zone-2", district="gangzha")
    assert deliver(services, moved) == [Outcome.refused]
    assert client.delete("/api/v1/cameras/cam-1", headers=bearer(tokens["operator"])).status_code == 403
    assert client.delete("/api/v1/cameras/cam-1", headers=bearer(tokens["admin"])).status_code == 204
    assert client.delete("/api/v1/cameras/cam-1", headers=bearer(tokens["admin"])).status_code == 404
    assert services.intake.event(TOPICS.events("box-2"), moved.to_json().encode()) is Outcome.stored
    assert cameras(services) == [("box-2", "cam-1", "gangzha", None)]
    assert [(t.device_id, t.department) for t in tickets(services)] == [
        ("box-1", "cg-chongchuan"),
        ("box-2", "cg-gangzha"),
    ]
