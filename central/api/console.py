"""The web console's own routes: the static pages, and what the console asks about one ticket
(the actions the caller may take now, and its review labels).

The console is plain HTML, ES modules and CSS under ``central/static/console/`` (no build step),
served at ``/console/``; ``/`` redirects there. Allowed actions are read off the workflow's
transition table here, so the browser never holds a copy of it.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path as FsPath
from typing import Annotated

import sqlalchemy as sa
from fastapi import APIRouter, FastAPI, HTTPException, Path, status
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response
from starlette.types import Scope

from central.api.deps import Reader, SessionDep, Staff
from central.api.schemas import MAX_ID
from central.api.tickets import TicketPath, visible_ticket
from central.auth import Principal
from central.models import ReviewLabel, Ticket
from central.reviews import Cause, ReviewError, labels_of, set_cause
from central.visibility import can_see
from central.workflow import TRANSITIONS, Action, Status

router = APIRouter(tags=["console"])

CONSOLE_DIR = FsPath(__file__).resolve().parents[1] / "static" / "console"

CSP = (
    "default-src 'self'; img-src 'self' data: blob:; media-src 'self' blob:; connect-src 'self'; "
    "style-src 'self'; script-src 'self'; frame-src 'self'; object-src 'none'; base-uri 'none'; "
    "frame-ancestors 'self'; form-action 'self'"
)


class AllowedAction(BaseModel):
    action: Action
    target: Status
    needs_comment: bool
    needs_duplicate_of: bool
    needs_department: bool = Field(description="True for dispatch: a department may be chosen.")


class AllowedActions(BaseModel):
    ticket_id: int
    status: Status
    actions: list[AllowedAction]


class ReviewOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    ticket_id: int
    verdict: str
    cause: str | None
    comment: str | None
    action: str
    actor: str
    role: str
    at: datetime


class CauseIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    cause: Cause = Field(description="Why it was a false alarm: decides how its evidence enters datasets.")


def allowed_actions(principal: Principal, ticket: Ticket) -> list[AllowedAction]:
    """The transition rows from the ticket's state that the caller's role may take."""
    if not can_see(principal, ticket):
        return []
    return [
        AllowedAction(
            action=t.action,
            target=t.target,
            needs_comment=t.needs_comment,
            needs_duplicate_of=t.needs_duplicate_of,
            needs_department=t.action is Action.dispatch,
        )
        for t in TRANSITIONS
        if t.source == ticket.status and principal.role in t.roles
    ]


@router.get(
    "/api/v1/tickets/{ticket_id}/actions",
    response_model=AllowedActions,
    summary="The actions the caller may take on this ticket now",
)
def get_allowed_actions(ticket_id: TicketPath, principal: Reader, session: SessionDep) -> AllowedActions:
    ticket = visible_ticket(session, ticket_id, principal)
    return AllowedActions(
        ticket_id=ticket.id, status=Status(ticket.status), actions=allowed_actions(principal, ticket)
    )


@router.get(
    "/api/v1/tickets/{ticket_id}/reviews",
    response_model=list[ReviewOut],
    summary="The ticket's review labels, oldest first; the last is its verdict",
)
def get_reviews(ticket_id: TicketPath, principal: Reader, session: SessionDep) -> list[ReviewOut]:
    visible_ticket(session, ticket_id, principal)
    return [ReviewOut.model_validate(label) for label in labels_of(session, ticket_id)]


@router.patch(
    "/api/v1/tickets/{ticket_id}/reviews/{review_id}",
    response_model=ReviewOut,
    summary="Say why a false alarm was one (its cause)",
    responses={409: {"description": "Not a false alarm, or no longer the ticket's verdict"}},
)
def patch_review(
    ticket_id: TicketPath,
    review_id: Annotated[int, Path(ge=1, le=MAX_ID)],
    body: CauseIn,
    principal: Staff,
    session: SessionDep,
) -> ReviewOut:
    with session.begin():
        visible_ticket(session, ticket_id, principal)
        label = session.scalar(
            sa.select(ReviewLabel).where(ReviewLabel.id == review_id, ReviewLabel.ticket_id == ticket_id)
        )
        if label is None:
            raise HTTPException(
                status.HTTP_404_NOT_FOUND, f"ticket {ticket_id} has no review label {review_id}"
            )
        try:
            set_cause(session, label, body.cause)
        except ReviewError as err:
            raise HTTPException(status.HTTP_409_CONFLICT, str(err)) from err
    return ReviewOut.model_validate(label)


@router.get("/", include_in_schema=False)
def root() -> RedirectResponse:
    return RedirectResponse("/console/", status_code=status.HTTP_307_TEMPORARY_REDIRECT)


class ConsoleFiles(StaticFiles):
    """The console's files, revalidated on every load (no build step, so no hashed names); they are
    served under ``CSP``, which allows only this origin's scripts and styles (``SecurityHeaders``)."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        response.headers["Cache-Control"] = "no-cache"
        return response


def mount_console(app: FastAPI) -> None:
    app.mount("/console", ConsoleFiles(directory=CONSOLE_DIR, html=True), name="console")
