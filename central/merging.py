"""What a batch of events may join, read once per batch: the tickets of their episodes, the open tickets
of their places, and the episodes' events still waiting for a start.

``TicketDesk`` files a batch's events one after another against this book, which it keeps current as
it opens and joins tickets, so each event is filed exactly as if it had come alone after the ones
before it, at the cost of a few queries a batch instead of a few an event.

On PostgreSQL the batch first takes an advisory lock per place (a camera's zone, or a site for types
merged by site) in the order of their keys, so replicas filing the same place take turns and two
replicas' batches never wait for each other in a cycle. SQLite needs nothing: it lets one writer at a
time through.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from central.models import Event, Ticket
from central.workflow import OPEN

Place = tuple[str, ...]
"""Where repeats of one problem merge: ("zone", type, device, camera, zone) or ("site", type, device, site)."""

_OPEN = frozenset(s.value for s in OPEN)


def zone_of(event: Event) -> Place:
    return ("zone", event.type, event.device_id, event.camera_id, event.zone_id)


def site_of(event: Event, site: str) -> Place:
    return ("site", event.type, event.device_id, site)


def _ticket_places(ticket: Ticket) -> list[Place]:
    zone: Place = ("zone", ticket.type, ticket.device_id or "", ticket.camera_id or "", ticket.zone_id or "")
    return [zone, ("site", ticket.type, ticket.device_id or "", ticket.site)] if ticket.site else [zone]


def serialise(session: Session, places: set[Place]) -> None:
    """On PostgreSQL, wait for every other transaction filing events of these places (see the module)."""
    if session.get_bind().dialect.name != "postgresql" or not places:
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
    batch: list[Event] = field(default_factory=list)


@dataclass(frozen=True)
class Adopted:
    """The waiting events a start takes onto its ticket."""

    ids: list[int]
    events: list[Event]
    first: datetime | None
    last: datetime | None

    @property
    def count(self) -> int:
        return len(self.ids) + len(self.events)


class Book:
    """The batch's view of tickets and waiting events; see the module docstring."""

    def __init__(self, window: timedelta) -> None:
        self._window = window
        self._episodes: dict[tuple[str, str], Ticket] = {}
        self._places: dict[Place, list[Ticket]] = defaultdict(list)
        self._waiting: dict[tuple[str, str], _Waiting] = defaultdict(_Waiting)

    @classmethod
    def load(cls, session: Session, events: list[Event], places: set[Place], window: timedelta) -> Book:
        """Read what ``events`` (not yet in the session) may join; call after ``serialise``."""
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

    def episode_ticket(self, event: Event) -> Ticket | None:
        return self._episodes.get((event.device_id, event.episode_id)) if event.episode_id else None

    def mergeable(self, event: Event, places: list[Place]) -> Ticket | None:
        """The open ticket of the event's places last seen most recently within the merge window."""
        since, until = event.started_at - self._window, event.started_at + self._window
        fits = [
            t
            for place in places
            for t in self._places.get(place, ())
            if t.status in _OPEN and t.last_seen_at >= since and t.first_seen_at <= until
        ]
        return max(fits, key=lambda t: t.last_seen_at, default=None)

    def opened(self, ticket: Ticket) -> None:
        for place in _ticket_places(ticket):
            self._places[place].append(ticket)

    def joined(self, event: Event, ticket: Ticket) -> None:
        if event.episode_id:
            self._episodes.setdefault((event.device_id, event.episode_id), ticket)

    def waits(self, event: Event) -> None:
        if event.episode_id:
            self._waiting[(event.device_id, event.episode_id)].batch.append(event)

    def adopt(self, start: Event) -> Adopted:
        """Take the episode's waiting events off the book, for the start's ticket."""
        waiting = self._waiting.pop((start.device_id, start.episode_id or ""), _Waiting())
        firsts = [s for _, s, _ in waiting.stored] + [e.started_at for e in waiting.batch]
        lasts = [o for _, _, o in waiting.stored] + [e.observed_at for e in waiting.batch]
        return Adopted(
            ids=[i for i, _, _ in waiting.stored],
            events=waiting.batch,
            first=min(firsts, default=None),
            last=max(lasts, default=None),
        )
