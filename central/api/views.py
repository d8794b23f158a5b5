"""Turning rows into API models: the parts that need more than ``from_attributes``."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from central.api.schemas import AuditOut, EventOut, MediaOut, TicketDetail, TicketOut
from central.models import Event, EventMedia, MediaObject, Ticket
from central.workflow import is_overdue


def media_url(sha256: str) -> str:
    return f"/api/v1/media/{sha256}"


def media_out(media: EventMedia, stored: Collection[str]) -> MediaOut:
    return MediaOut(
        sha256=media.sha256,
        kind=media.kind,
        content_type=media.content_type,
        bytes=media.bytes,
        label=media.label,
        url=media_url(media.sha256),
        stored=media.sha256 in stored,
    )


def event_out(event: Event, stored: Collection[str]) -> EventOut:
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
        media=[media_out(m, stored) for m in event.media],
    )


def ticket_out(ticket: Ticket, now: datetime) -> TicketOut:
    return TicketOut.model_validate(ticket).model_copy(update={"overdue": is_overdue(ticket, now)})


def stored_media(session: Session, ticket: Ticket) -> set[str]:
    """Which of the ticket's evidence has arrived: one query of the database's record of uploads, not a
    question to the media store per piece (with S3, a request each, and none answered in an outage)."""
    wanted = {m.sha256 for e in ticket.events for m in e.media}
    if not wanted:
        return set()
    return set(session.scalars(sa.select(MediaObject.sha256).where(MediaObject.sha256.in_(wanted))))


def ticket_detail(ticket: Ticket, now: datetime, stored: Collection[str]) -> TicketDetail:
    summary = ticket_out(ticket, now)
    return TicketDetail(
        **summary.model_dump(),
        events=[event_out(e, stored) for e in ticket.events],
        history=[AuditOut.model_validate(a) for a in ticket.history],
    )
