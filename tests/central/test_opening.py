"""Opening a ticket is the workflow's first transition: from no state to ``new``, audited, for the roles
that may open (a device from its events, staff from hotline requests); ingest and Open311 both take it."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from central.auth import Principal, Role
from central.models import AuditEntry, Ticket
from central.services import Services
from central.workflow import OPENING, TRANSITIONS, Action, NotAllowed, Status, open_ticket
from contract.topics import Topics
from tests.central.conftest import START, bearer
from tests.central.factories import event

OPENERS = {Role.admin, Role.operator, Role.device}


def history(services: Services, ticket_id: int) -> list[tuple[str, str, str, str | None, str, str | None]]:
    with services.sessions() as session:
        rows = session.scalars(sa.select(AuditEntry).where(AuditEntry.ticket_id == ticket_id))
        return [(a.actor, a.role, a.action, a.from_status, a.to_status, a.comment) for a in rows]


def test_opening_is_the_row_from_no_state() -> None:
    assert OPENING in TRANSITIONS
    assert (OPENING.action, OPENING.source, OPENING.target) == (Action.open, None, Status.new)
    assert OPENING.roles == OPENERS


@pytest.mark.parametrize("role", list(Role))
def test_only_devices_and_staff_may_open(services: Services, role: Role) -> None:
    principal = Principal(f"{role.value}-1", role, "cg-chongchuan" if role is Role.department else None)
    ticket = Ticket(type="dust", source="open311", first_seen_at=START, last_seen_at=START, event_count=0)
    with services.sessions() as session, session.begin():
        if role not in OPENERS:
            with pytest.raises(NotAllowed):
                open_ticket(session, ticket, principal, "why", START)
            assert session.scalar(sa.select(sa.func.count()).select_from(Ticket)) == 0
            return
        open_ticket(session, ticket, principal, "why", START)
    assert (ticket.status, ticket.opened_at, ticket.updated_at) == ("new", START, START)
    assert history(services, ticket.id) == [(principal.name, role.value, "open", None, "new", "why")]


def test_an_edge_event_opens_its_ticket_through_the_workflow(services: Services) -> None:
    start = event()
    services.intake.event(Topics().events(start.device_id), start.to_json().encode())
    with services.sessions() as session:
        ticket_id = session.scalars(sa.select(Ticket.id)).one()
    assert history(services, ticket_id) == [
        ("device:box-1", "device", "open", None, "new", f"opened by event {start.event_id}")
    ]


def test_a_hotline_request_opens_its_ticket_through_the_workflow(
    services: Services, client: TestClient, tokens: dict[str, str]
) -> None:
    form = {"service_code": "dust", "address_string": "Renmin Rd 88", "api_key": tokens["operator"]}
    [receipt] = client.post("/open311/v2/requests.json", data=form).json()
    assert history(services, int(receipt["service_request_id"])) == [
        ("operator", "operator", "open", None, "new", "filed through Open311")
    ]


def test_open_is_neither_offered_nor_taken_on_an_existing_ticket(
    services: Services, client: TestClient, tokens: dict[str, str]
) -> None:
    start = event()
    services.intake.event(Topics().events(start.device_id), start.to_json().encode())
    with services.sessions() as session:
        ticket_id = session.scalars(sa.select(Ticket.id)).one()
    offered = client.get(f"/api/v1/tickets/{ticket_id}/actions", headers=bearer(tokens["admin"])).json()
    assert "open" not in {a["action"] for a in offered["actions"]}
    taken = client.post(
        f"/api/v1/tickets/{ticket_id}/actions", json={"action": "open"}, headers=bearer(tokens["admin"])
    )
    assert taken.status_code == 409
    assert len(history(services, ticket_id)) == 1
