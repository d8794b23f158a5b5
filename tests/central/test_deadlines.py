"""Deadlines and department figures, moved along by an injected clock (no sleeping)."""

from __future__ import annotations

import uuid
from datetime import timedelta

from fastapi.testclient import TestClient

from central.clock import FrozenClock
from central.models import Ticket
from central.services import Services
from contract.topics import Topics
from tests.central.conftest import START, bearer
from tests.central.factories import event


def new_ticket(services: Services) -> int:
    """A parking ticket in Chongchuan: sign within 0.5 h and resolve within 2 h of dispatch."""
    e = event(zone=f"zone-{uuid.uuid4().hex[:6]}", district="chongchuan")
    services.intake.event(Topics().events(e.device_id), e.to_json().encode())
    with services.sessions() as session:
        return max(t.id for t in session.query(Ticket))


def at(clock: FrozenClock, hh_mm: str) -> None:
    hours, minutes = (int(x) for x in hh_mm.split(":"))
    target = START.replace(hour=hours, minute=minutes)
    clock.advance(target - clock.now())


def test_overdue_flags_and_department_figures(
    client: TestClient, services: Services, tokens: dict[str, str], clock: FrozenClock
) -> None:
    staff, dept = bearer(tokens["operator"]), bearer(tokens["cg-chongchuan"])

    def do(ticket: int, action: str, headers: dict[str, str]) -> None:
        response = client.post(
            f"/api/v1/tickets/{ticket}/actions", json={"action": action, "comment": "ok"}, headers=headers
        )
        assert response.status_code == 200, response.text

    def overdue_ids() -> set[int]:
        page = client.get("/api/v1/tickets", params={"overdue": "true"}, headers=staff).json()
        return {t["id"] for t in page["items"]}

    unsigned, quick, late, stuck, undispatched = (new_ticket(services) for _ in range(5))
    for ticket in (unsigned, quick, late, stuck):
        do(ticket, "dispatch", staff)
    at(clock, "08:05")
    for ticket in (quick, late, stuck):
        do(ticket, "accept", dept)
        do(ticket, "start", dept)
    at(clock, "08:29")
    assert overdue_ids() == set()
    at(clock, "08:31")
    assert overdue_ids() == {unsigned}, "past the 30-minute sign-for deadline"
    at(clock, "09:00")
    do(quick, "resolve", dept)
    at(clock, "09:30")
    do(quick, "close", staff)
    at(clock, "10:30")
    do(late, "resolve", dept)
    at(clock, "11:00")
    do(late, "close", staff)
    assert overdue_ids() == {unsigned, stuck}, "stuck passed its 2-hour resolve deadline at 10:00"
    assert client.get(f"/api/v1/tickets/{stuck}", headers=staff).json()["overdue"] is True
    assert client.get(f"/api/v1/tickets/{undispatched}", headers=staff).json()["overdue"] is False

    figures = {f["department"]: f for f in client.get("/api/v1/stats/departments", headers=staff).json()}
    assert figures["cg-chongchuan"] == {
        "department": "cg-chongchuan",
        "name": "崇川区城市管理局 (Chongchuan city management)",
        "open": 3,
        "overdue": 2,
        "resolved": 2,
        "on_time_rate": 0.5,
        "median_hours_to_close": 2.25,
    }
    assert figures["cg-gangzha"]["open"] == 0
    assert figures["cg-gangzha"]["on_time_rate"] is None
    own = client.get("/api/v1/stats/departments", headers=dept).json()
    assert [f["department"] for f in own] == ["cg-chongchuan"], "department staff see their own figures"


def test_filters_and_pagination(
    client: TestClient, services: Services, tokens: dict[str, str], clock: FrozenClock
) -> None:
    ids = []
    for _ in range(5):
        ids.append(new_ticket(services))
        clock.advance(timedelta(minutes=1))
    staff = bearer(tokens["operator"])
    page = client.get("/api/v1/tickets", params={"limit": 2, "offset": 1}, headers=staff).json()
    assert (page["total"], [t["id"] for t in page["items"]]) == (5, [ids[3], ids[2]])
    since = (START + timedelta(minutes=3)).isoformat()
    recent = client.get("/api/v1/tickets", params={"since": since}, headers=staff).json()
    assert {t["id"] for t in recent["items"]} == {ids[3], ids[4]}
    for params, total in [
        ({"district": "chongchuan"}, 5),
        ({"district": "gangzha"}, 0),
        ({"type": "dust"}, 0),
        ({"camera": "cam-1"}, 5),
        ({"status": "new"}, 5),
        ({"department": "cg-chongchuan"}, 5),
    ]:
        assert client.get("/api/v1/tickets", params=params, headers=staff).json()["total"] == total, params
    assert (
        client.get("/api/v1/tickets", params={"since": "2026-05-01T08:00:00"}, headers=staff).status_code
        == 422
    )
