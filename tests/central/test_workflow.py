"""Every transition and role rule of the ticket state machine, in the engine and through the API.

The expected rules are written out here as the specification, independently of the table in
``central.workflow``, so a wrong row there fails a test here.
"""

from __future__ import annotations

import itertools
import uuid
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from central.auth import Principal, Role
from central.clock import FrozenClock
from central.models import Ticket
from central.services import Services
from central.workflow import Action, InvalidTransition, NotAllowed, Status, find_transition
from contract.topics import Topics
from tests.central.conftest import bearer
from tests.central.factories import event

STAFF = {Role.admin, Role.operator}
DEPT = {Role.admin, Role.department}
SPEC: dict[tuple[Action, Status], tuple[Status, set[Role]]] = {
    (Action.dispatch, Status.new): (Status.dispatched, STAFF),
    (Action.dispatch, Status.reopened): (Status.dispatched, STAFF),
    (Action.send_back, Status.dispatched): (Status.new, DEPT),
    (Action.accept, Status.dispatched): (Status.accepted, DEPT),
    (Action.start, Status.accepted): (Status.in_progress, DEPT),
    (Action.resolve, Status.in_progress): (Status.resolved, DEPT),
    (Action.close, Status.resolved): (Status.closed, STAFF),
    **{
        (Action.reopen, s): (Status.reopened, STAFF)
        for s in (Status.resolved, Status.closed, Status.rejected)
    },
    **{
        (Action.reject, s): (Status.rejected, STAFF) for s in (Status.new, Status.dispatched, Status.reopened)
    },
    **{
        (Action.mark_duplicate, s): (Status.duplicate, STAFF)
        for s in (Status.new, Status.dispatched, Status.reopened)
    },
}
TOKEN_OF_ROLE = {
    Role.admin: "admin",
    Role.operator: "operator",
    Role.department: "cg-chongchuan",
    Role.device: "device",
}
PATH_TO = {  # admin actions that bring a new ticket to each state
    Status.new: [],
    Status.dispatched: [Action.dispatch],
    Status.accepted: [Action.dispatch, Action.accept],
    Status.in_progress: [Action.dispatch, Action.accept, Action.start],
    Status.resolved: [Action.dispatch, Action.accept, Action.start, Action.resolve],
    Status.closed: [Action.dispatch, Action.accept, Action.start, Action.resolve, Action.close],
    Status.rejected: [Action.reject],
    Status.duplicate: [Action.mark_duplicate],
    Status.reopened: [Action.reject, Action.reopen],
}


def expected(action: Action, state: Status, role: Role) -> Status | type[Exception]:
    if role is Role.device:
        return NotAllowed  # devices see no ticket at all, so every action is refused before the state matters
    rule = SPEC.get((action, state))
    if rule is None:
        return InvalidTransition
    target, roles = rule
    return target if role in roles else NotAllowed


@pytest.mark.parametrize(("action", "state", "role"), list(itertools.product(Action, Status, Role)))
def test_every_action_from_every_state_by_every_role(action: Action, state: Status, role: Role) -> None:
    ticket = Ticket(id=1, status=state.value, department="cg-chongchuan")
    principal = Principal("someone", role, "cg-chongchuan" if role is Role.department else None)
    want = expected(action, state, role)
    if isinstance(want, Status):
        assert find_transition(principal, ticket, action).target is want
    else:
        with pytest.raises(want):
            find_transition(principal, ticket, action)


def test_department_staff_may_not_act_on_another_departments_ticket() -> None:
    ticket = Ticket(id=1, status=Status.dispatched.value, department="cg-gangzha")
    with pytest.raises(NotAllowed):
        find_transition(Principal("x", Role.department, "cg-chongchuan"), ticket, Action.accept)


# --- through the API -------------------------------------------------------------------------


def open_ticket(services: Services, district: str = "chongchuan") -> int:
    """A new ticket (each in its own zone, so that none merges into another)."""
    e = event(zone=f"zone-{uuid.uuid4().hex[:8]}", district=district)
    services.intake.event(Topics().events(e.device_id), e.to_json().encode())
    with services.sessions() as session:
        return max(t.id for t in session.query(Ticket))


def act(client: TestClient, token: str | None, ticket_id: int, action: Action, **body: object) -> int:
    payload = {"action": action.value, **body}
    payload.setdefault("comment", "because")
    if action is Action.mark_duplicate:
        payload.setdefault("duplicate_of", ticket_id - 1 if ticket_id > 1 else ticket_id + 1)
    headers = bearer(token) if token else {}
    return client.post(f"/api/v1/tickets/{ticket_id}/actions", json=payload, headers=headers).status_code


def ticket_in(services: Services, client: TestClient, tokens: dict[str, str], state: Status) -> int:
    open_ticket(services)  # a second ticket for mark_duplicate to point at
    ticket_id = open_ticket(services)
    for step in PATH_TO[state]:
        assert act(client, tokens["admin"], ticket_id, step) == 200, step
    return ticket_id


@pytest.mark.parametrize(("action", "source"), sorted(SPEC, key=str))
def test_each_allowed_transition_through_the_api(
    services: Services, client: TestClient, tokens: dict[str, str], action: Action, source: Status
) -> None:
    target, roles = SPEC[(action, source)]
    for role in Role:
        ticket_id = ticket_in(services, client, tokens, source)
        code = act(client, tokens[TOKEN_OF_ROLE[role]], ticket_id, action)
        assert code == (200 if role in roles else 403), role
        status = client.get(f"/api/v1/tickets/{ticket_id}", headers=bearer(tokens["admin"])).json()["status"]
        assert status == (target if role in roles else source).value, role


def test_a_full_life_is_audited_with_who_when_from_to_and_comment(
    services: Services, client: TestClient, tokens: dict[str, str], clock: FrozenClock
) -> None:
    ticket_id = open_ticket(services)
    steps = [
        ("operator", Action.dispatch, None),
        ("cg-chongchuan", Action.accept, "on our way"),
        ("cg-chongchuan", Action.start, None),
        ("cg-chongchuan", Action.resolve, "car towed"),
        ("operator", Action.close, "confirmed on camera"),
    ]
    for who, action, comment in steps:
        clock.advance(timedelta(minutes=7))
        assert act(client, tokens[who], ticket_id, action, comment=comment) == 200
    history = client.get(f"/api/v1/tickets/{ticket_id}", headers=bearer(tokens["admin"])).json()["history"]
    assert [(h["actor"], h["action"], h["from_status"], h["to_status"], h["comment"]) for h in history] == [
        ("device:box-1", "open", None, "new", history[0]["comment"]),
        ("operator", "dispatch", "new", "dispatched", None),
        ("cg-chongchuan", "accept", "dispatched", "accepted", "on our way"),
        ("cg-chongchuan", "start", "accepted", "in_progress", None),
        ("cg-chongchuan", "resolve", "in_progress", "resolved", "car towed"),
        ("operator", "close", "resolved", "closed", "confirmed on camera"),
    ]
    times = [h["at"] for h in history[1:]]
    assert times == sorted(times), "each entry records when it happened"
    assert len(set(times)) == 5, "each entry records when it happened"
    assert [h["role"] for h in history[1:]] == [
        "operator",
        "department",
        "department",
        "department",
        "operator",
    ]


def test_missing_or_unknown_token_is_401(
    services: Services, client: TestClient, tokens: dict[str, str]
) -> None:
    ticket_id = open_ticket(services)
    assert act(client, None, ticket_id, Action.dispatch) == 401
    assert act(client, "gw_not-a-token", ticket_id, Action.dispatch) == 401
    response = client.get("/api/v1/tickets")
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"


def test_another_departments_ticket_is_403_to_read_and_to_act(
    services: Services, client: TestClient, tokens: dict[str, str]
) -> None:
    ticket_id = open_ticket(services, district="gangzha")
    assert act(client, tokens["admin"], ticket_id, Action.dispatch) == 200
    assert act(client, tokens["cg-chongchuan"], ticket_id, Action.accept) == 403
    assert (
        client.get(f"/api/v1/tickets/{ticket_id}", headers=bearer(tokens["cg-chongchuan"])).status_code == 403
    )
    assert act(client, tokens["cg-gangzha"], ticket_id, Action.accept) == 200
    listing = client.get("/api/v1/tickets", headers=bearer(tokens["cg-chongchuan"])).json()
    assert listing["total"] == 0
    asked = client.get(
        "/api/v1/tickets", params={"department": "cg-gangzha"}, headers=bearer(tokens["cg-chongchuan"])
    )
    assert asked.status_code == 403


def test_devices_cannot_read_tickets(services: Services, client: TestClient, tokens: dict[str, str]) -> None:
    assert client.get("/api/v1/tickets", headers=bearer(tokens["device"])).status_code == 403


@pytest.mark.parametrize(
    ("action", "body", "code"),
    [
        (Action.accept, {}, 409),
        (Action.reject, {"comment": "  "}, 422),
        (Action.mark_duplicate, {"duplicate_of": 999999}, 422),
        (Action.dispatch, {"department": "nobody"}, 422),
        (Action.dispatch, {"department": "x" * 200}, 422),
    ],
)
def test_refused_actions_change_nothing(
    services: Services,
    client: TestClient,
    tokens: dict[str, str],
    action: Action,
    body: dict[str, object],
    code: int,
) -> None:
    ticket_id = open_ticket(services)
    assert act(client, tokens["admin"], ticket_id, action, **body) == code
    detail = client.get(f"/api/v1/tickets/{ticket_id}", headers=bearer(tokens["admin"])).json()
    assert detail["status"] == "new"
    assert len(detail["history"]) == 1


def test_a_ticket_cannot_duplicate_itself(
    services: Services, client: TestClient, tokens: dict[str, str]
) -> None:
    ticket_id = open_ticket(services)
    assert act(client, tokens["admin"], ticket_id, Action.mark_duplicate, duplicate_of=ticket_id) == 422


def test_dispatch_to_another_department_takes_its_deadlines(
    services: Services, client: TestClient, tokens: dict[str, str], clock: FrozenClock
) -> None:
    ticket_id = open_ticket(services)
    assert act(client, tokens["operator"], ticket_id, Action.dispatch, department="cg-gangzha") == 200
    detail = client.get(f"/api/v1/tickets/{ticket_id}", headers=bearer(tokens["admin"])).json()
    assert detail["department"] == "cg-gangzha"
    assert detail["resolve_by"] == (clock.now() + timedelta(hours=2)).isoformat().replace("+00:00", "Z")


def test_reopening_clears_the_resolution(
    services: Services, client: TestClient, tokens: dict[str, str]
) -> None:
    ticket_id = ticket_in(services, client, tokens, Status.closed)
    assert act(client, tokens["operator"], ticket_id, Action.reopen, comment="car is back") == 200
    detail = client.get(f"/api/v1/tickets/{ticket_id}", headers=bearer(tokens["admin"])).json()
    assert (detail["status"], detail["resolved_at"], detail["closed_at"]) == ("reopened", None, None)
