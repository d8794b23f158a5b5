"""Turning rows into API models: the parts that need more than ``from_attributes``."""

from __future__ import annotations

from datetime import datetime

from central.api.schemas import AuditOut, EventOut, MediaOut, TicketDetail, TicketOut
from central.media import MediaStore
from central.models import Event, EventMedia, Ticket
from central.workflow import is_overdue


def media_url(sha256: str) -> str:
    return f"/api/v1/media/{sha256}"


def media_out(media: EventMedia, store: MediaStore) -> MediaOut:
    return MediaOut(
        sha256=media.sha256,
        kind=media.kind,
        content_type=media.content_type,
        bytes=media.bytes,
        label=media.label,
        url=media_url(media.sha256),
        stored=store.exists(media.sha256),
    )


def event_out(event: Event, store: MediaStore) -> EventOut:
    return EventOut(
        event_id=event.event_id,
        phase=event.phase,
        type=event.type,
        device_id=event.device_id,
        camera_id=event.camera_id,
        zone_id=event.zone_id,
        episode_id=event.episode_id,
        started_at=event.started_at,
        observed_at=event.observed_at,
        ended_at=event.ended_at,
        received_at=event.received_at,
        confidence=event.confidence,
        details=event.details,
        media=[media_out(m, store) for m in event.media],
    )


def ticket_out(ticket: Ticket, now: datetime) -> TicketOut:
    return TicketOut.model_validate(ticket).model_copy(update={"overdue": is_overdue(ticket, now)})


def ticket_detail(ticket: Ticket, now: datetime, store: MediaStore) -> TicketDetail:
    summary = ticket_out(ticket, now)
    return TicketDetail(
        **summary.model_dump(),
        events=[event_out(e, store) for e in ticket.events],
        history=[AuditOut.model_validate(a) for a in ticket.history],
    )
