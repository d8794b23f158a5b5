"""Who may see which ticket, once per role: the Python test and the SQL condition of
``central.visibility`` agree on a seeded set of tickets, and every route that shows tickets follows them.

The expected sets are written out here as the specification, independently of the policy.
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from central.auth import Principal, Role
from central.models import Camera, Device, Ticket
from central.services import Services
from central.visibility import can_see, ticket_scope, visible_cameras, visible_tickets
from central.workflow import open_ticket
from tests.central.conftest import START, bearer

DEPARTMENTS = ("cg-chongchuan", "cg-gangzha", "env-chongchuan", None)
"""One seeded ticket per department; None is a ticket no route took (no department yet)."""

SPEC: dict[str, tuple[Principal, set[str | None]]] = {
    "admin": (Principal("admin", Role.admin), set(DEPARTMENTS)),
    "operator": (Principal("operator", Role.operator), set(DEPARTMENTS)),
    "cg-chongchuan": (Principal("cg-chongchuan", Role.department, "cg-chongchuan"), {"cg-chongchuan"}),
    "cg-gangzha": (Principal("cg-gangzha", Role.department, "cg-gangzha"), {"cg-gangzha"}),
    "env-chongchuan": (Principal("env-chongchuan", Role.department, "env-chongchuan"), {"env-chongchuan"}),
    "device": (Principal("device", Role.device), set()),
    "no-department": (Principal("odd", Role.department), set()),
}
"""The departments whose tickets each holder sees; the keys are ``tokens`` holders where one exists."""

READERS = ("admin", "operator", "cg-chongchuan", "cg-gangzha", "env-chongchuan")
"""Holders the API lets read tickets at all (devices are refused by role before any ticket is looked at)."""


@pytest.fixture
def seeded(services: Services) -> dict[str | None, int]:
    """Ticket id by department, opened the one way tickets are opened."""
    ids: dict[str | None, int] = {}
    with services.sessions.begin() as session:
        for department in DEPARTMENTS:
            ticket = Ticket(
                type="illegal_parking",
                source="open311",
                department=department,
                first_seen_at=START,
                last_seen_at=START,
                event_count=0,
            )
            open_ticket(session, ticket, Principal("admin", Role.admin), "seeded", START)
            ids[department] = ticket.id
    return ids


def expected_ids(holder: str, seeded: dict[str | None, int]) -> set[int]:
    return {seeded[d] for d in SPEC[holder][1]}


@pytest.mark.parametrize("holder", sorted(SPEC))
def test_the_predicate_and_the_sql_condition_agree_for_each_role(
    services: Services, seeded: dict[str | None, int], holder: str
) -> None:
    principal = SPEC[holder][0]
    with services.sessions() as session:
        tickets = session.scalars(sa.select(Ticket)).all()
        by_predicate = {t.id for t in tickets if can_see(principal, t)}
        by_sql = set(session.scalars(sa.select(Ticket.id).where(visible_tickets(principal))))
    assert by_predicate == by_sql == expected_ids(holder, seeded)
    scope = ticket_scope(principal)
    assert {d for d in DEPARTMENTS if scope.admits(d)} == SPEC[holder][1]


@pytest.mark.parametrize("holder", READERS)
def test_the_queue_lists_exactly_what_the_holder_may_see(
    client: TestClient, tokens: dict[str, str], seeded: dict[str | None, int], holder: str
) -> None:
    page = client.get("/api/v1/tickets", headers=bearer(tokens[holder])).json()
    assert {t["id"] for t in page["items"]} == expected_ids(holder, seeded)
    assert page["total"] == len(expected_ids(holder, seeded))


@pytest.mark.parametrize("holder", READERS)
@pytest.mark.parametrize("path", ["", "/actions", "/reviews"])
def test_each_one_ticket_route_answers_403_outside_the_holders_scope(
    client: TestClient, tokens: dict[str, str], seeded: dict[str | None, int], holder: str, path: str
) -> None:
    for ticket_id in seeded.values():
        response = client.get(f"/api/v1/tickets/{ticket_id}{path}", headers=bearer(tokens[holder]))
        want = 200 if ticket_id in expected_ids(holder, seeded) else 403
        assert response.status_code == want, (ticket_id, response.text)
    assert client.get(f"/api/v1/tickets/424242{path}", headers=bearer(tokens[holder])).status_code == 404


@pytest.mark.parametrize("holder", READERS)
def test_acting_on_a_ticket_outside_the_scope_is_403_before_the_state_is_judged(
    client: TestClient, tokens: dict[str, str], seeded: dict[str | None, int], holder: str
) -> None:
    for ticket_id in set(seeded.values()) - expected_ids(holder, seeded):
        response = client.post(
            f"/api/v1/tickets/{ticket_id}/actions",
            json={"action": "accept"},  # never allowed from "new": a visible ticket would answer 409
            headers=bearer(tokens[holder]),
        )
        assert response.status_code == 403, response.text


@pytest.mark.parametrize("holder", READERS)
def test_department_figures_cover_only_what_the_holder_may_see(
    services: Services, client: TestClient, tokens: dict[str, str], holder: str
) -> None:
    rows = client.get("/api/v1/stats/departments", headers=bearer(tokens[holder])).json()
    configured = {d.id for d in services.config.departments}
    assert {r["department"] for r in rows} == (configured if holder in ("admin", "operator") else {holder})


@pytest.mark.parametrize("holder", ["admin", "operator"])
def test_open311_shows_staff_every_request(
    client: TestClient, tokens: dict[str, str], seeded: dict[str | None, int], holder: str
) -> None:
    listed = client.get("/open311/v2/requests.json", params={"api_key": tokens[holder]}).json()
    assert {int(r["service_request_id"]) for r in listed} == expected_ids(holder, seeded)
    for ticket_id in seeded.values():
        one = client.get(f"/open311/v2/requests/{ticket_id}.json", params={"api_key": tokens[holder]})
        assert one.status_code == 200


def test_cameras_staff_see_all_departments_see_their_districts_devices_none(services: Services) -> None:
    with services.sessions.begin() as session:
        session.add(Device(device_id="box-1", state="online", last_seen_at=START))
        for camera_id, district in (("cam-c", "chongchuan"), ("cam-g", "gangzha"), ("cam-x", None)):
            session.add(
                Camera(
                    device_id="box-1", camera_id=camera_id, district=district, state="ok", updated_at=START
                )
            )

    def seen(principal: Principal) -> set[str]:
        clause = visible_cameras(principal, services.router)
        query = sa.select(Camera.camera_id)
        with services.sessions() as session:
            return set(session.scalars(query if clause is None else query.where(clause)))

    assert seen(SPEC["admin"][0]) == seen(SPEC["operator"][0]) == {"cam-c", "cam-g", "cam-x"}
    assert seen(SPEC["cg-chongchuan"][0]) == {"cam-c"}
    assert seen(Principal("city", Role.department, "cg-city")) == {"cam-x"}
    assert seen(SPEC["device"][0]) == seen(SPEC["no-department"][0]) == set()
