"""``/api/v1/tickets``: the queue, one ticket with its evidence and history, and actions on it.

``visible_ticket`` is how every route that names one ticket loads it: 404 when there is none, 403
when the caller may not see it (``central.visibility``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

import sqlalchemy as sa
from fastapi import APIRouter, HTTPException, Path, Query, status
from pydantic import AwareDatetime, BaseModel, Field
from sqlalchemy.orm import Session, selectinload
from sqlalchemy.orm.interfaces import ORMOption

from central.api.deps import Reader, ServicesDep, SessionDep
from central.api.schemas import MAX_ID, ActionIn, ShortText, TicketDetail, TicketOut, TicketPage
from central.api.views import stored_media, ticket_detail, ticket_out
from central.auth import Principal
from central.models import Event, Ticket
from central.services import Services
from central.visibility import can_see, ticket_scope
from central.workflow import (
    ActionRequest,
    Status,
    WorkflowContext,
    WorkflowError,
    apply_action,
    overdue_clause,
)
from contract.event import EventType

router = APIRouter(prefix="/api/v1/tickets", tags=["tickets"])

TicketPath = Annotated[int, Path(ge=1, le=MAX_ID, description="The ticket's id.")]
EVIDENCE = (selectinload(Ticket.events).selectinload(Event.media), selectinload(Ticket.history))
"""Loader options for a ticket shown with its events, their media and its history."""


class TicketQuery(BaseModel):
    """Filters of the ticket queue; all optional and combined with AND."""

    status: Status | None = None
    type: EventType | None = None
    department: ShortText | None = None
    camera: ShortText | None = Field(default=None, description="Camera id.")
    district: ShortText | None = None
    since: AwareDatetime | None = Field(default=None, description="Opened at or after (ISO 8601 with zone).")
    until: AwareDatetime | None = Field(default=None, description="Opened before.")
    overdue: bool | None = None
    limit: int = Field(default=50, ge=1, le=500)
    offset: int = Field(default=0, ge=0, le=10**9)


def _conditions(query: TicketQuery, principal: Principal, services: Services) -> list[sa.ColumnElement[bool]]:
    scope = ticket_scope(principal)
    if query.department is not None and not scope.admits(query.department):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "department staff see only their own department")
    now = services.clock.now()
    conditions: list[sa.ColumnElement[bool]] = [scope.holds()]
    if query.status is not None:
        conditions.append(Ticket.status == query.status.value)
    if query.type is not None:
        conditions.append(Ticket.type == query.type.value)
    if query.department is not None:
        conditions.append(Ticket.department == query.department)
    if query.camera is not None:
        conditions.append(Ticket.camera_id == query.camera)
    if query.district is not None:
        conditions.append(Ticket.district == query.district)
    if query.since is not None:
        conditions.append(Ticket.opened_at >= query.since)
    if query.until is not None:
        conditions.append(Ticket.opened_at < query.until)
    if query.overdue is not None:
        conditions.append(overdue_clause(now) if query.overdue else sa.not_(overdue_clause(now)))
    return conditions


@router.get("", response_model=TicketPage, summary="The ticket queue, newest first")
def list_tickets(
    query: Annotated[TicketQuery, Query()], principal: Reader, services: ServicesDep, session: SessionDep
) -> TicketPage:
    conditions = _conditions(query, principal, services)
    total = session.scalar(sa.select(sa.func.count()).select_from(Ticket).where(*conditions)) or 0
    rows = session.scalars(
        sa.select(Ticket)
        .where(*conditions)
        .order_by(Ticket.opened_at.desc(), Ticket.id.desc())
        .limit(query.limit)
        .offset(query.offset)
    ).all()
    now = services.clock.now()
    return TicketPage(
        total=total, limit=query.limit, offset=query.offset, items=[ticket_out(t, now) for t in rows]
    )


def visible_ticket(
    session: Session,
    ticket_id: int,
    principal: Principal,
    *,
    for_update: bool = False,
    options: Sequence[ORMOption] = (),
    noun: str = "ticket",
) -> Ticket:
    """The ticket, or the HTTP error that says there is none (404) or that it is not the caller's (403).

    ``noun`` names the ticket in the 404 as its API calls it (Open311: "service request").
    """
    ticket = session.get(Ticket, ticket_id, with_for_update=for_update, options=options)
    if ticket is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no {noun} {ticket_id}")
    if not can_see(principal, ticket):
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"ticket {ticket_id} belongs to another department")
    return ticket


@router.get(
    "/{ticket_id}", response_model=TicketDetail, summary="One ticket with its events, media and history"
)
def get_ticket(
    ticket_id: TicketPath, principal: Reader, services: ServicesDep, session: SessionDep
) -> TicketDetail:
    ticket = visible_ticket(session, ticket_id, principal, options=EVIDENCE)
    return ticket_detail(ticket, services.clock.now(), stored_media(session, ticket))


@router.post(
    "/{ticket_id}/actions",
    response_model=TicketOut,
    summary="Move a ticket to its next state",
    responses={
        403: {"description": "Wrong role or department"},
        409: {"description": "Not allowed from the ticket's current state"},
        422: {"description": "A comment, duplicate_of or department is missing or wrong"},
    },
)
def act_on_ticket(
    ticket_id: TicketPath, body: ActionIn, principal: Reader, services: ServicesDep, session: SessionDep
) -> TicketOut:
    now = services.clock.now()
    with session.begin():
        ticket = visible_ticket(session, ticket_id, principal, for_update=True)
        context = WorkflowContext(
            session=session, router=services.router, now=now, departments=services.departments
        )
        request = ActionRequest(
            action=body.action,
            comment=body.comment,
            duplicate_of=body.duplicate_of,
            department=body.department,
        )
        try:
            apply_action(context, ticket, principal, request)
        except WorkflowError as err:
            raise HTTPException(err.status_code, str(err)) from err
    return ticket_out(ticket, now)
