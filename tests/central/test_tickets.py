"""Events become tickets: merging repeats, pairing episodes, routing by type and district."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import exc as sa_exc
from sqlalchemy.orm import Session, sessionmaker

from central.ingest import Intake, Outcome
from central.models import Event as EventRow
from central.models import Ticket
from central.services import Services
from contract.event import Event
from contract.topics import Topics
from tests.central.conftest import START
from tests.central.factories import episode, event, status

TOPICS = Topics()


def deliver(services: Services, *events: Event) -> list[Outcome]:
    return [services.intake.event(TOPICS.events(e.device_id), e.to_json().encode()) for e in events]


def tickets(services: Services) -> list[Ticket]:
    with services.sessions() as session:
        return list(session.scalars(sa.select(Ticket).order_by(Ticket.id)))


def ticket_of(services: Services, e: Event) -> int | None:
    with services.sessions() as session:
        return session.scalar(sa.select(EventRow.ticket_id).where(EventRow.event_id == e.event_id))


def test_three_starts_in_the_merge_window_make_one_ticket_with_three_events(services: Services) -> None:
    starts = [event(at=START + timedelta(minutes=m)) for m in (0, 10, 25)]
    assert deliver(services, *starts) == [Outcome.stored] * 3
    [ticket] = tickets(services)
    assert ticket.event_count == 3
    assert {ticket_of(services, e) for e in starts} == {ticket.id}
    assert ticket.first_seen_at == START
    assert ticket.last_seen_at == START + timedelta(minutes=25, seconds=1)


@pytest.mark.parametrize(
    ("second", "why"),
    [
        (event(at=START + timedelta(minutes=45)), "outside the 30-minute window"),
        (event(zone="zone-2"), "another zone"),
        (event(camera="cam-2"), "another camera"),
        (event(device="box-2", camera="cam-2"), "another device"),
        (event(type_="dust"), "another type"),
    ],
)
def test_starts_that_do_not_match_open_separate_tickets(services: Services, second: Event, why: str) -> None:
    deliver(services, event(), second)
    assert len(tickets(services)) == 2, why


def test_the_same_event_three_times_is_one_row_and_one_ticket(services: Services) -> None:
    start = event()
    assert deliver(services, start, start, start) == [Outcome.stored, Outcome.duplicate, Outcome.duplicate]
    [ticket] = tickets(services)
    assert ticket.event_count == 1
    with services.sessions() as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(EventRow)) == 1


def test_an_episode_stays_on_one_ticket_and_its_end_does_not_close_it(services: Services) -> None:
    deliver(services, *episode())
    [ticket] = tickets(services)
    assert (ticket.event_count, ticket.status) == (3, "new")


def test_an_end_long_after_its_start_still_joins_through_the_episode(services: Services) -> None:
    start, _, end = episode()
    late_end = end.model_copy(update={"started_at": START, "observed_at": START + timedelta(hours=3)})
    unpaired = event("end", at=START + timedelta(hours=3))
    deliver(services, start, unpaired, late_end)
    [ticket] = tickets(services)
    assert ticket_of(services, late_end) == ticket.id
    assert ticket_of(services, unpaired) is None, "an end with no episode and no open ticket nearby waits"


def test_an_update_that_arrives_before_its_start_is_adopted(services: Services) -> None:
    start, update, end = episode()
    deliver(services, end, update)
    assert tickets(services) == []
    deliver(services, start)
    [ticket] = tickets(services)
    assert ticket.event_count == 3
    assert {ticket_of(services, e) for e in (start, update, end)} == {ticket.id}


def test_update_without_episode_falls_back_to_the_merge_rule(services: Services) -> None:
    start = event()
    update = event("update", at=START + timedelta(minutes=5))
    deliver(services, start, update)
    [ticket] = tickets(services)
    assert ticket_of(services, update) == ticket.id


def test_a_start_after_the_ticket_is_closed_opens_a_new_one(services: Services) -> None:
    deliver(services, event())
    with services.sessions.begin() as session:
        session.execute(sa.update(Ticket).values(status="rejected"))
    deliver(services, event(at=START + timedelta(minutes=5)))
    assert [t.status for t in tickets(services)] == ["rejected", "new"]


@pytest.mark.parametrize(
    ("type_", "expected"), [("dust", 1), ("illegal_building", 1), ("illegal_parking", 2)]
)
def test_dust_and_building_merge_across_cameras_of_one_site(
    services: Services, type_: str, expected: int
) -> None:
    deliver(
        services,
        event(type_=type_, camera="cam-1", site="site-7"),
        event(type_=type_, camera="cam-2", zone="zone-9", site="site-7"),
    )
    assert len(tickets(services)) == expected


@pytest.mark.parametrize(
    ("status_district", "details", "department"),
    [
        ("chongchuan", {}, "cg-chongchuan"),
        ("gangzha", {}, "cg-gangzha"),
        ("gangzha", {"district": "chongchuan"}, "cg-gangzha"),  # the registry decides, not the event
        ("haimen", {}, "cg-city"),
        (None, {}, "cg-city"),
    ],
)
def test_routing_by_type_and_district(
    services: Services, status_district: str | None, details: dict[str, Any], department: str
) -> None:
    if status_district is not None:
        services.intake.status(TOPICS.status("box-1"), status(district=status_district).to_json().encode())
    deliver(services, event(**details))
    [ticket] = tickets(services)
    assert ticket.department == department
    assert ticket.status == "new"
    assert ticket.dispatched_at is None


def test_dust_routes_to_the_environment_bureau(services: Services) -> None:
    deliver(services, event(type_="dust", district="gangzha"))
    assert tickets(services)[0].department == "env-gangzha"


def test_an_event_whose_device_differs_from_its_topic_is_refused(services: Services) -> None:
    forged = event(device="box-9")
    assert services.intake.event(TOPICS.events("box-1"), forged.to_json().encode()) is Outcome.malformed
    assert tickets(services) == []


class FlakySessions:
    """A session factory whose first ``failures`` transactions fail as a lost database connection would."""

    def __init__(self, real: sessionmaker[Session], failures: int) -> None:
        self._real = real
        self.failures = failures

    def begin(self) -> Any:
        if self.failures > 0:
            self.failures -= 1
            raise sa_exc.OperationalError("INSERT ...", {}, Exception("server closed the connection"))
        return self._real.begin()


def flaky_intake(services: Services, failures: int) -> tuple[Intake, FlakySessions]:
    sessions = FlakySessions(services.sessions, failures)
    return Intake(sessions, services.desk, services.clock, TOPICS, 256 * 1024), sessions  # type: ignore[arg-type]  # FlakySessions stands in for the sessionmaker


def test_a_database_outage_is_waited_out_and_the_event_stored(services: Services) -> None:
    intake, sessions = flaky_intake(services, failures=2)
    e = event()
    assert intake.event(TOPICS.events(e.device_id), e.to_json().encode()) is Outcome.stored
    assert sessions.failures == 0
    assert len(tickets(services)) == 1


def test_stopping_during_an_outage_leaves_the_event_for_redelivery(services: Services) -> None:
    intake, _ = flaky_intake(services, failures=10**6)
    intake.stopping.set()
    e = event()
    assert intake.event(TOPICS.events(e.device_id), e.to_json().encode()) is Outcome.deferred
    assert tickets(services) == []
