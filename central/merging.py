"""What a batch of events may join, read once per batch: the tickets of their episodes, the open tickets
of their places, and the episodes' events still waiting for a start.

``TicketDesk`` files a batch's events one after another against this book, which it keeps current as
it opens and joins tickets, so each event is filed exactly as if it had come alone after the ones
before it, at the cost of a few queries a batch instead of a few an event.

On PostgreSQL the batch first takes an advisory lock per place (a camera's zone, or a site for types
merged by site) in the order of their keys, so replicas filing the same place take turns and two
replicas' batches never wait for each other in a cycle. SQLite lets one writer at a time through;
the batch takes that write lock (with a write that changes nothing) before its reads.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.orm import Session

from central.models import Event, Ticket
from central.workflow import OPEN

Place = tuple[str, ...]
"""Where repeats of one problem merge: ("zone", type, device, camera, zone) or ("site", type, device, site)."""

_OPEN = frozenset(s.value for s in OPEN)


class Filable(Protocol):
    """An event about to be stored, as the desk files it: not a row yet, so a batch is inserted in one go."""

    event_id: Any
    phase: str
    type: str
    device_id: str
    camera_id: str
    zone_id: str
    episode_id: str | None
    started_at: datetime
    observed_at: datetime
    details: dict[str, Any]
    ticket_id: int | None


def zone_of(event: Filable) -> Place:
    return ("zone", event.type, event.device_id, event.camera_id, event.zone_id)


def site_of(event: Filable, site: str) -> Place:
    return ("site", event.type, event.device_id, site)


def _ticket_places(ticket: Ticket) -> list[Place]:
    zone: Place = ("zone", ticket.type, ticket.device_id or "", ticket.camera_id or "", ticket.zone_id or "")
    return [zone, ("site", ticket.type, ticket.device_id or "", ticket.site)] if ticket.site else [zone]


def serialise(session: Session, places: set[Place]) -> None:
    """Wait for every other transaction filing events of these places (see the module)."""
    if session.get_bind().dialect.name == "sqlite":
        # pysqlite begins a transaction only at its first write and runs the reads before it on their
        # own, so a write that changes nothing takes the database's one write lock before the reads.
        session.execute(sa.text("UPDATE tickets SET id = id WHERE 1 = 0"))
        return
    if not places:
        return
    keys = sorted({_lock_key(place) for place in places})
    session.execute(
        sa.text("SELECT count(pg_advisory_xact_lock(k)) FROM unnest(CAST(:keys AS BIGINT[])) AS k"),
        {"keys": keys},
    )


def _lock_key(place: Place) -> int:
    kind, event_type, *where = place
    digest = hashlib.blake2b(f"{event_type}|{kind}:{'/'.join(where)}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


@dataclass
class _Waiting:
    """Events of an episode stored before its start, not yet on a ticket."""

    stored: list[tuple[int, datetime, datetime]] = field(default_factory=list)
    batch: list[Filable] = field(default_factory=list)


@dataclass
class _Seen:
    """A ticket's span and events as the batch has changed them; written to the row once, at the end."""

    ticket: Ticket
    first: datetime
    last: datetime
    added: int = 0


class Book:
    """The batch's view of tickets and waiting events; see the module docstring."""

    def __init__(self, window: timedelta) -> None:
        self._window = window
        self._episodes: dict[tuple[str, str], Ticket] = {}
        self._places: dict[Place, list[Ticket]] = defaultdict(list)
        self._waiting: dict[tuple[str, str], _Waiting] = defaultdict(_Waiting)
        self._seen: dict[int, _Seen] = {}

    @classmethod
    def load(cls, session: Session, events: list[Filable], places: set[Place], window: timedelta) -> Book:
        """Read what ``events`` may join; call after ``serialise``."""
        book = cls(window)
        book._load_episodes(session, {(e.device_id, e.episode_id) for e in events if e.episode_id})
        if events:
            starts = [e.started_at for e in events]
            book._load_places(session, places, min(starts) - window, max(starts) + window)
        return book

    def _load_episodes(self, session: Session, pairs: set[tuple[str, str | None]]) -> None:
        if not pairs:
            return
        rows = session.execute(
            sa.select(Event.id, Event.device_id, Event.episode_id, Event.ticket_id, Event.started_at)
            .add_columns(Event.observed_at)
            .where(sa.tuple_(Event.device_id, Event.episode_id).in_(list(pairs)))
        ).all()
        on_tickets = {(r.device_id, r.episode_id): r.ticket_id for r in rows if r.ticket_id is not None}
        tickets = {
            t.id: t for t in session.scalars(sa.select(Ticket).where(Ticket.id.in_(on_tickets.values())))
        }
        self._episodes.update({pair: tickets[ticket_id] for pair, ticket_id in on_tickets.items()})
        for r in rows:
            if r.ticket_id is None:
                self._waiting[(r.device_id, r.episode_id)].stored.append((r.id, r.started_at, r.observed_at))

    def _load_places(self, session: Session, places: set[Place], since: datetime, until: datetime) -> None:
        zones = [p[2:] for p in places if p[0] == "zone"]
        sites = [p[2:] for p in places if p[0] == "site"]
        where = []
        if zones:
            where.append(sa.tuple_(Ticket.device_id, Ticket.camera_id, Ticket.zone_id).in_(zones))
        if sites:
            where.append(sa.tuple_(Ticket.device_id, Ticket.site).in_(sites))
        if not where:
            return
        tickets = session.scalars(
            sa.select(Ticket).where(
                Ticket.type.in_({p[1] for p in places}),
                Ticket.status.in_(_OPEN),
                sa.or_(*where),
                Ticket.last_seen_at >= since,
                Ticket.first_seen_at <= until,
            )
        )
        for ticket in tickets:
            self.opened(ticket)

    def episode_ticket(self, event: Filable) -> Ticket | None:
        return self._episodes.get((event.device_id, event.episode_id)) if event.episode_id else None

    def mergeable(self, event: Filable, places: list[Place]) -> Ticket | None:
        """The open ticket of the event's places last seen most recently within the merge window."""
        since, until = event.started_at - self._window, event.started_at + self._window
        fits = [
            (seen.last, t)
            for place in places
            for t in self._places.get(place, ())
            if t.status in _OPEN and (seen := self._span(t)).last >= since and seen.first <= until
        ]
        return max(fits, key=lambda fit: fit[0], default=(None, None))[1]

    def opened(self, ticket: Ticket) -> None:
        for place in _ticket_places(ticket):
            self._places[place].append(ticket)

    def join(self, ticket: Ticket, event: Filable) -> None:
        event.ticket_id = ticket.id
        self._widen(ticket, 1, event.started_at, event.observed_at)
        if event.episode_id:
            self._episodes.setdefault((event.device_id, event.episode_id), ticket)

    def waits(self, event: Filable) -> None:
        if event.episode_id:
            self._waiting[(event.device_id, event.episode_id)].batch.append(event)

    def adopt(self, start: Filable, ticket: Ticket) -> list[int]:
        """Put the episode's waiting events on the start's ticket; the ids of those already stored,
        whose rows the caller updates."""
        waiting = self._waiting.pop((start.device_id, start.episode_id or ""), _Waiting())
        for event in waiting.batch:
            event.ticket_id = ticket.id
        for _, first, last in waiting.stored:
            self._widen(ticket, 1, first, last)
        for event in waiting.batch:
            self._widen(ticket, 1, event.started_at, event.observed_at)
        return [i for i, _, _ in waiting.stored]

    def settle(self, now: datetime) -> None:
        """Write the batch's changes into the tickets it touched (one UPDATE each when flushed)."""
        for seen in self._seen.values():
            if not seen.added:
                continue
            ticket = seen.ticket
            ticket.event_count += seen.added
            ticket.first_seen_at = seen.first
            ticket.last_seen_at = seen.last
            ticket.updated_at = now

    def _span(self, ticket: Ticket) -> _Seen:
        seen = self._seen.get(id(ticket))
        if seen is None:
            seen = self._seen[id(ticket)] = _Seen(ticket, ticket.first_seen_at, ticket.last_seen_at)
        return seen

    def _widen(self, ticket: Ticket, events: int, first: datetime, last: datetime) -> None:
        seen = self._span(ticket)
        seen.added += events
        seen.first = min(seen.first, first)
        seen.last = max(seen.last, last)
