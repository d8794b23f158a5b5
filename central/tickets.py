"""How events become tickets: pair an episode's events, merge repeats of one problem, open the rest.

A ``start`` event opens a ticket unless an open ticket of the same type already covers the
same camera and zone (or, for types the catalogue merges by site, the same site of the same device)
within the merge window. District, site and camera name come from the centre's record of the camera,
never from the event's details: a device cannot pick the department or join another's ticket.
``update`` and ``end`` events join the ticket their episode's start went to (``details.episode_id``),
falling back to the same merge rule; they never open or close a ticket. An update or end that
arrives before its start waits unattached and is adopted when the start comes.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
import structlog
from sqlalchemy.orm import Session

from central.auth import Principal, Role
from central.models import Camera, Event, Ticket
from central.routing import Router
from central.workflow import OPEN, open_ticket
from contract.event import CommonDetails
from contract.event_types import MergeBy, info

log = structlog.get_logger(__name__)


def merges_by_site(event_type: str) -> bool:
    """Whether the catalogue says a problem of this type belongs to a site watched by several cameras."""
    return info(event_type).merge_by is MergeBy.site


@dataclass(frozen=True)
class Place:
    """Where an event happened: the camera's record, and the map position the event gives."""

    district: str | None = None
    site: str | None = None
    lat: float | None = None
    lon: float | None = None
    camera_name: str | None = None


class TicketDesk:
    """Files stored events into tickets; one call per event, inside the event's transaction."""

    def __init__(self, router: Router, merge_window: timedelta) -> None:
        self._router = router
        self._window = merge_window

    def file(self, session: Session, event: Event, camera: Camera, now: datetime) -> Ticket | None:
        """The ticket the event now belongs to, or None while an update/end waits for its start.

        ``camera`` is the record of the event's camera, which its device owns.
        """
        place = place_of(event, camera)
        _serialise_merges(session, event, place)
        ticket = self._episode_ticket(session, event) or self._mergeable(session, event, place)
        if ticket is None and event.phase != "start":
            log.info(
                "event waits for its episode's start",
                device=event.device_id,
                camera=event.camera_id,
                event_id=str(event.event_id),
                episode=event.episode_id,
            )
            return None
        if ticket is None:
            ticket = self._open(session, event, place, now)
        _join(ticket, event, now)
        if event.phase == "start" and event.episode_id:
            self._adopt_orphans(session, event, ticket, now)
        return ticket

    def _episode_ticket(self, session: Session, event: Event) -> Ticket | None:
        if not event.episode_id:
            return None
        return session.scalar(
            sa.select(Ticket)
            .join(Event, Event.ticket_id == Ticket.id)
            .where(
                Event.device_id == event.device_id, Event.episode_id == event.episode_id, Event.id != event.id
            )
            .limit(1)
        )

    def _mergeable(self, session: Session, event: Event, place: Place) -> Ticket | None:
        same_zone = sa.and_(
            Ticket.device_id == event.device_id,
            Ticket.camera_id == event.camera_id,
            Ticket.zone_id == event.zone_id,
        )
        same_site = sa.and_(Ticket.device_id == event.device_id, Ticket.site == place.site)
        where_ = sa.or_(same_zone, same_site) if place.site and merges_by_site(event.type) else same_zone
        return session.scalar(
            sa.select(Ticket)
            .where(
                Ticket.type == event.type,
                Ticket.status.in_([s.value for s in OPEN]),
                where_,
                Ticket.last_seen_at >= event.started_at - self._window,
                Ticket.first_seen_at <= event.started_at + self._window,
            )
            .order_by(Ticket.last_seen_at.desc())
            .limit(1)
        )

    def _open(self, session: Session, event: Event, place: Place, now: datetime) -> Ticket:
        routed = self._router.route(event.type, place.district)
        where = place.camera_name or event.camera_id
        ticket = Ticket(
            type=event.type,
            source="edge",
            department=routed.department if routed else None,
            district=place.district,
            device_id=event.device_id,
            camera_id=event.camera_id,
            zone_id=event.zone_id,
            site=place.site,
            description=f"{info(event.type).title} at {where}, zone {event.zone_id}",
            lat=place.lat,
            lon=place.lon,
            first_seen_at=event.started_at,
            last_seen_at=event.observed_at,
            event_count=0,
        )
        device = Principal(name=f"device:{event.device_id}", role=Role.device)
        open_ticket(session, ticket, device, f"opened by event {event.event_id}", now)
        log.info(
            "ticket opened",
            ticket=ticket.id,
            type=event.type,
            device=event.device_id,
            camera=event.camera_id,
            zone=event.zone_id,
            department=ticket.department,
        )
        return ticket

    def _adopt_orphans(self, session: Session, start: Event, ticket: Ticket, now: datetime) -> None:
        """Attach the episode's events that arrived before its start (rare: one aggregate query if none)."""
        waiting = sa.and_(
            Event.device_id == start.device_id,
            Event.episode_id == start.episode_id,
            Event.ticket_id.is_(None),
            Event.id != start.id,
        )
        count, first, last = session.execute(
            sa.select(sa.func.count(), sa.func.min(Event.started_at), sa.func.max(Event.observed_at)).where(
                waiting
            )
        ).one()
        if not count:
            return
        session.execute(
            sa.update(Event)
            .where(waiting)
            .values(ticket_id=ticket.id)
            .execution_options(synchronize_session=False)
        )
        ticket.event_count += count
        ticket.first_seen_at = min(ticket.first_seen_at, _aware(first))
        ticket.last_seen_at = max(ticket.last_seen_at, _aware(last))
        ticket.updated_at = now


def _join(ticket: Ticket, event: Event, now: datetime) -> None:
    event.ticket_id = ticket.id
    ticket.event_count += 1
    ticket.first_seen_at = min(ticket.first_seen_at, event.started_at)
    ticket.last_seen_at = max(ticket.last_seen_at, event.observed_at)
    ticket.updated_at = now


def place_of(event: Event, camera: Camera) -> Place:
    """The camera's record says where; the event's details only add a map position.

    ``event.details`` is what ingest stored of the contract's validated details, so reading it back
    through the contract's model cannot fail and gives typed values.
    """
    location = CommonDetails.model_validate(event.details or {}).location
    return Place(
        district=camera.district,
        site=camera.site,
        lat=location.lat if location else None,
        lon=location.lon if location else None,
        camera_name=camera.name,
    )


def _serialise_merges(session: Session, event: Event, place: Place) -> None:
    """On PostgreSQL, replicas filing events of one place take turns, so two never open twin tickets.

    SQLite needs nothing: it already lets one writer at a time through.
    """
    if session.get_bind().dialect.name != "postgresql":
        return
    scope = (
        f"site:{event.device_id}/{place.site}"
        if place.site and merges_by_site(event.type)
        else f"zone:{event.device_id}/{event.camera_id}/{event.zone_id}"
    )
    digest = hashlib.blake2b(f"{event.type}|{scope}".encode(), digest_size=8).digest()
    session.execute(
        sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": int.from_bytes(digest, "big", signed=True)}
    )


def _aware(value: datetime) -> datetime:
    """Aggregates bypass the column type, so SQLite hands back naive UTC (or even text) here."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
