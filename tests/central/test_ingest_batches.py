"""Batched ingest: a batch files events exactly as one-by-one ingest does, and one bad event never
costs the rest of its batch: it is kept as a dead letter, shown to admins and replayable."""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from central import dead_letters
from central.bench_parts import database
from central.bench_workload import workload
from central.cli import main
from central.clock import FrozenClock
from central.db import migrate
from central.ingest import Intake, Message, Outcome
from central.models import Event as EventRow
from central.models import Ticket
from central.services import Services, build_services
from central.tickets import Filing, TicketDesk
from contract.topics import Topics
from tests.central.conftest import POSTGRES, START, bearer, central_config
from tests.central.factories import event

TOPICS = Topics()


def messages_with_repeats(seed: int) -> list[Message]:
    """A city's mix from a few edges, with redeliveries and some updates arriving before their start."""
    rng = random.Random(seed)
    sent = [Message(o.topic, o.payload) for o in workload(900, 6, TOPICS, seed=seed)]
    for i in range(0, len(sent) - 1, 37):  # an update overtakes its start now and then
        sent[i], sent[i + 1] = sent[i + 1], sent[i]
    for _ in range(60):  # redeliveries, some close behind, some long after
        sent.insert(rng.randrange(len(sent)), sent[rng.randrange(len(sent))])
    return sent


@pytest.fixture
def other(database_url: str, tmp_path: Path) -> Iterator[Services]:
    """A second, empty database of the same kind."""
    with database(POSTGRES if database_url.startswith("postgresql") else None, tmp_path) as url:
        built = build_services(central_config(url, tmp_path / "other"), FrozenClock(START), with_ingest=False)
        migrate(built.engine)
        yield built
        built.close()


def tickets_by_events(services: Services) -> set[tuple[frozenset[uuid.UUID], int, str, str]]:
    """Each ticket as the set of its events, with its count and span: ticket ids themselves may differ."""
    with services.sessions() as session:
        rows = session.execute(sa.select(EventRow.ticket_id, EventRow.event_id)).all()
        members: dict[int | None, set[uuid.UUID]] = {}
        for ticket_id, event_id in rows:
            members.setdefault(ticket_id, set()).add(event_id)
        tickets = session.scalars(sa.select(Ticket)).all()
        return {
            (
                frozenset(members.get(t.id, ())),
                t.event_count,
                t.first_seen_at.isoformat(),
                t.last_seen_at.isoformat(),
            )
            for t in tickets
        } | {(frozenset(members.get(None, ())), 0, "waiting", "waiting")}


def test_batches_file_events_into_the_same_tickets_as_one_at_a_time(
    services: Services, other: Services
) -> None:
    sent = messages_with_repeats(seed=3)
    one_by_one = [services.intake.event(m.topic, m.payload) for m in sent]
    batched = [o for i in range(0, len(sent), 97) for o in other.intake.events(sent[i : i + 97])]
    assert batched == one_by_one
    assert services.intake.counts() == other.intake.counts()
    assert services.intake.counts()["events_duplicate"] == 60
    assert tickets_by_events(other) == tickets_by_events(services)


def test_repeats_of_one_problem_inside_one_batch_join_one_ticket(services: Services) -> None:
    starts = [event(zone="zone-1", at=START.replace(minute=i)) for i in range(20)]
    outcomes = services.intake.events(
        [Message(TOPICS.events(e.device_id), e.to_json().encode()) for e in starts]
    )
    assert outcomes == [Outcome.stored] * 20
    with services.sessions() as session:
        assert session.scalars(sa.select(Ticket.event_count)).all() == [20]


class FaultyDesk(TicketDesk):
    """Files like the real desk, but fails (a bug) on any batch holding an event of camera ``cam-bug``."""

    def file(self, session: Session, filings: list[Filing], now: datetime) -> list[Ticket | None]:
        if any(f.event.camera_id == "cam-bug" for f in filings):
            raise ValueError("cam-bug cannot be filed")
        return super().file(session, filings, now)


@pytest.fixture
def faulty(services: Services) -> Intake:
    desk = FaultyDesk(services.router, services.desk._window)  # the same merge window as the real desk
    return Intake(services.sessions, desk, services.clock, TOPICS, 256 * 1024)


def test_one_bad_event_is_kept_as_a_dead_letter_and_the_rest_of_its_batch_stored(
    services: Services, faulty: Intake, client: TestClient, tokens: dict[str, str]
) -> None:
    good = [event(zone=f"zone-{i}") for i in range(4)]
    bad = event(camera="cam-bug")
    batch = [*good[:2], bad, *good[2:]]
    outcomes = faulty.events([Message(TOPICS.events(e.device_id), e.to_json().encode()) for e in batch])
    assert outcomes == [Outcome.stored, Outcome.stored, Outcome.failed, Outcome.stored, Outcome.stored]
    assert faulty.counts() == {"events_stored": 4, "events_failed": 1}
    answer = client.get("/api/v1/dead-letters", headers=bearer(tokens["admin"]))
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["total"] == 1
    (letter,) = body["letters"]
    assert (letter["topic"], letter["device_id"]) == (TOPICS.events("box-1"), "box-1")
    assert "ValueError: cam-bug cannot be filed" in letter["error"]
    assert str(bad.event_id) in letter["payload"]
    for holder in ("operator", "cg-chongchuan", "device"):
        assert client.get("/api/v1/dead-letters", headers=bearer(tokens[holder])).status_code == 403


def test_a_dead_letter_replays_once_the_cause_is_fixed(services: Services, faulty: Intake) -> None:
    bad = event(camera="cam-bug")
    assert faulty.event(TOPICS.events(bad.device_id), bad.to_json().encode()) is Outcome.failed
    assert dead_letters.replay(services.sessions, lambda t, p: faulty.event(t, p) is Outcome.stored) == (0, 1)
    with services.sessions() as session:
        assert dead_letters.count(session) == 1, (
            "the message failed again: still one letter, with the new error"
        )

    def fixed(topic: str, payload: bytes) -> bool:
        return services.intake.event(topic, payload) is Outcome.stored

    assert dead_letters.replay(services.sessions, fixed) == (1, 0)
    with services.sessions() as session:
        assert dead_letters.count(session) == 0
        assert session.scalar(sa.select(EventRow.event_id)) == bad.event_id


def test_the_replay_command_files_dead_letters_and_lists_what_is_left(
    services: Services, faulty: Intake, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = event(camera="cam-bug")
    faulty.event(TOPICS.events(bad.device_id), bad.to_json().encode())
    url = services.config.database_url
    data_dir = str(services.config.data_dir)
    assert main(["dead-letters", "list", "--db", url, "--data-dir", data_dir]) == 0
    assert "1 dead letters" in capsys.readouterr().out
    assert main(["dead-letters", "replay", "--db", url, "--data-dir", data_dir]) == 0
    assert "1 filed, 0 failed again; 0 dead letters left" in capsys.readouterr().out
    with services.sessions() as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(EventRow)) == 1
