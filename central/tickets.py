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

from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
import structlog
from sqlalchemy.orm import Session

from central import merging
from central.auth import Principal, Role
from central.models import Camera, Event, Ticket
from central.routing import Router
from central.workflow import open_ticket
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


@dataclass(frozen=True)
class Filing:
    """An event row to file (not yet in the session) and the record of its camera, which its device owns."""

    event: merging.Filable
    camera: Camera


class TicketDesk:
    """Files a batch of events into tickets, inside the batch's transaction."""

    def __init__(self, router: Router, merge_window: timedelta) -> None:
        self._router = router
        self._window = merge_window

    def file(self, session: Session, filings: list[Filing], now: datetime) -> list[Ticket | None]:
        """Each event's ticket, or None while an update/end waits for its start; the events are filed
        in order, each as if it came alone after the ones before it (``central.merging``).

        The caller inserts the events afterwards, in one go with their tickets set.
        """
        places = [place_of(f.event, f.camera) for f in filings]
        scopes = [_merge_places(f.event, place) for f, place in zip(filings, places, strict=True)]
        merging.serialise(session, {scope[-1] for scope in scopes})
        book = merging.Book.load(
            session, [f.event for f in filings], {p for scope in scopes for p in scope}, self._window
        )
        tickets = [
            self._file_one(session, book, f.event, place, scope, now)
            for f, place, scope in zip(filings, places, scopes, strict=True)
        ]
        book.settle(now)
        return tickets

    def _file_one(
        self,
        session: Session,
        book: merging.Book,
        event: merging.Filable,
        place: Place,
        scope: list[merging.Place],
        now: datetime,
    ) -> Ticket | None:
        ticket = book.episode_ticket(event) or book.mergeable(event, scope)
        if ticket is None and event.phase != "start":
            log.info(
                "event waits for its episode's start",
                device=event.device_id,
                camera=event.camera_id,
                event_id=str(event.event_id),
                episode=event.episode_id,
            )
            book.waits(event)
            return None
        if ticket is None:
            ticket = self._open(session, event, place, now)
            book.opened(ticket)
        book.join(ticket, event)
        if event.phase == "start" and event.episode_id:
            _adopt(session, book.adopt(event, ticket), ticket)
        return ticket

    def _open(self, session: Session, event: merging.Filable, place: Place, now: datetime) -> Ticket:
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


def place_of(event: merging.Filable, camera: Camera) -> Place:
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


def _merge_places(event: merging.Filable, place: Place) -> list[merging.Place]:
    """The places whose open tickets the event may join; the last one is the one its batch locks."""
    if place.site and merges_by_site(event.type):
        return [merging.zone_of(event), merging.site_of(event, place.site)]
    return [merging.zone_of(event)]


def _adopt(session: Session, stored: list[int], ticket: Ticket) -> None:
    """Attach the episode's stored events that arrived before its start (rare)."""
    if stored:
        session.execute(
            sa.update(Event)
            .where(Event.id.in_(stored))
            .values(ticket_id=ticket.id)
            .execution_options(synchronize_session=False)
        )
