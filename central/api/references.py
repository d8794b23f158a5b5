"""Re-approving a building reference: staff judge a structural change legitimate, and the edge
takes the zone's current view as its new reference, so that structure never fires again.

An action on the ticket that reaches the edge over ``rpc/approve_reference``; it changes no
ticket state (staff close or reject the ticket as usual) but leaves an audit entry saying who
approved what, and when.
"""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, HTTPException, status
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from central.api.deps import ServicesDep, Staff
from central.api.live import ask_edge
from central.api.schemas import LongText
from central.api.tickets import TicketPath, visible_ticket
from central.auth import Principal
from central.models import AuditEntry, Ticket
from central.services import Services
from contract.event import EventType
from contract.rpc import APPROVE_REFERENCE, ApproveReference

router = APIRouter(prefix="/api/v1/tickets", tags=["tickets"])

ACTION = "approve_reference"


class ApproveIn(BaseModel):
    comment: LongText | None = Field(
        default=None, description="Why the change is legitimate (a permit number)."
    )


class ReferenceOut(BaseModel):
    ticket_id: int
    device_id: str
    camera_id: str
    zone_id: str
    reference_taken_at: datetime = Field(
        description="When the edge took the frame that is now the reference."
    )


@router.post(
    "/{ticket_id}/approve-reference",
    response_model=ReferenceOut,
    summary="Approve a building change: the edge makes the zone's current view its reference",
    responses={
        403: {"description": "Another department's ticket"},
        404: {"description": "No such ticket"},
        409: {"description": "Not a building ticket, or its device is offline"},
        503: {"description": "The camera has no frame yet, or no broker connection"},
    },
)
async def approve_reference(
    ticket_id: TicketPath, body: ApproveIn, principal: Staff, services: ServicesDep
) -> ReferenceOut:
    ticket = await run_in_threadpool(_building_ticket, services, ticket_id, principal)
    request = ApproveReference(camera_id=ticket.camera_id, zone_id=ticket.zone_id, approved_by=principal.name)
    answer = await ask_edge(services, ticket.device_id, APPROVE_REFERENCE, request)
    taken_at = datetime.fromtimestamp(answer.reference_taken_at, UTC)
    await run_in_threadpool(_audit, services, ticket_id, principal, body.comment, taken_at)
    return ReferenceOut(
        ticket_id=ticket_id,
        device_id=ticket.device_id,
        camera_id=ticket.camera_id,
        zone_id=ticket.zone_id,
        reference_taken_at=taken_at,
    )


class _Target(BaseModel):
    device_id: str
    camera_id: str
    zone_id: str


def _building_ticket(services: Services, ticket_id: int, principal: Principal) -> _Target:
    with services.sessions() as session:
        ticket = visible_ticket(session, ticket_id, principal)
        if ticket.type != EventType.illegal_building.value or not (
            ticket.device_id and ticket.camera_id and ticket.zone_id
        ):
            raise HTTPException(
                status.HTTP_409_CONFLICT,
                f"ticket {ticket_id} is a {ticket.type} ticket; only "
                "illegal_building tickets from a camera have a reference to approve",
            )
        return _Target(device_id=ticket.device_id, camera_id=ticket.camera_id, zone_id=ticket.zone_id)


def _audit(
    services: Services, ticket_id: int, principal: Principal, comment: str | None, taken_at: datetime
) -> None:
    now = services.clock.now()
    note = f"reference re-approved from the frame of {taken_at:%Y-%m-%d %H:%M:%S}Z"
    with services.sessions() as session, session.begin():
        ticket = session.get(Ticket, ticket_id)
        status_now = ticket.status if ticket else "unknown"
        session.add(
            AuditEntry(
                ticket_id=ticket_id,
                at=now,
                actor=principal.name,
                role=principal.role.value,
                action=ACTION,
                from_status=status_now,
                to_status=status_now,
                comment=f"{note}; {comment}" if comment else note,
            )
        )
