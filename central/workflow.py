"""The ticket state machine, as a table: each row is one allowed (action, from-state) pair.

Adding a transition is adding a row; ``apply_action`` only looks rows up, checks the role and
the inputs the row asks for, stamps the times the target state implies, and writes the audit entry.
Opening is the row from no state: ``open_ticket`` is the one way a ticket comes to be, whether an
edge event or a hotline request asks for it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.orm import Session

from central.auth import STAFF, Principal, Role
from central.models import AuditEntry, Ticket
from central.reviews import Verdict, record_review
from central.routing import Router
from central.visibility import can_see


class Status(StrEnum):
    new = "new"
    dispatched = "dispatched"
    accepted = "accepted"
    in_progress = "in_progress"
    resolved = "resolved"
    closed = "closed"
    rejected = "rejected"
    duplicate = "duplicate"
    reopened = "reopened"


class Action(StrEnum):
    open = "open"
    dispatch = "dispatch"
    send_back = "send_back"
    accept = "accept"
    start = "start"
    resolve = "resolve"
    close = "close"
    reject = "reject"
    mark_duplicate = "mark_duplicate"
    reopen = "reopen"


OPEN = frozenset({Status.new, Status.dispatched, Status.accepted, Status.in_progress, Status.reopened})
"""States in which a ticket still gathers new events of its problem."""

FINISHED = frozenset({Status.closed, Status.rejected, Status.duplicate})
"""States that Open311 reports as ``closed``."""

WITH_DEPARTMENT = frozenset({Status.dispatched, Status.accepted, Status.in_progress})
"""States in which the resolve deadline runs."""

_DEPT = frozenset({Role.admin, Role.department})
_OPENERS = STAFF | {Role.device}
"""Devices open tickets from their events, staff from hotline (Open311) requests."""


@dataclass(frozen=True)
class Transition:
    action: Action
    source: Status | None
    """None for opening: the ticket has no state before it."""
    target: Status
    roles: frozenset[Role]
    needs_comment: bool = False
    needs_duplicate_of: bool = False
    review: Verdict | None = None
    """The review label this action puts on the ticket's evidence (``central.reviews``), if any."""


OPENING = Transition(Action.open, None, Status.new, _OPENERS)

TRANSITIONS: tuple[Transition, ...] = (
    OPENING,
    Transition(Action.dispatch, Status.new, Status.dispatched, STAFF),
    Transition(Action.dispatch, Status.reopened, Status.dispatched, STAFF),
    Transition(Action.send_back, Status.dispatched, Status.new, _DEPT, needs_comment=True),
    Transition(Action.accept, Status.dispatched, Status.accepted, _DEPT),
    Transition(Action.start, Status.accepted, Status.in_progress, _DEPT),
    Transition(
        Action.resolve,
        Status.in_progress,
        Status.resolved,
        _DEPT,
        needs_comment=True,
        review=Verdict.confirmed,
    ),
    Transition(Action.close, Status.resolved, Status.closed, STAFF, review=Verdict.confirmed),
    Transition(Action.reopen, Status.resolved, Status.reopened, STAFF, needs_comment=True),
    Transition(Action.reopen, Status.closed, Status.reopened, STAFF, needs_comment=True),
    Transition(
        Action.reopen, Status.rejected, Status.reopened, STAFF, needs_comment=True, review=Verdict.withdrawn
    ),
    Transition(
        Action.reject, Status.new, Status.rejected, STAFF, needs_comment=True, review=Verdict.false_alarm
    ),
    Transition(
        Action.reject,
        Status.dispatched,
        Status.rejected,
        STAFF,
        needs_comment=True,
        review=Verdict.false_alarm,
    ),
    Transition(
        Action.reject,
        Status.reopened,
        Status.rejected,
        STAFF,
        needs_comment=True,
        review=Verdict.false_alarm,
    ),
    Transition(Action.mark_duplicate, Status.new, Status.duplicate, STAFF, needs_duplicate_of=True),
    Transition(Action.mark_duplicate, Status.dispatched, Status.duplicate, STAFF, needs_duplicate_of=True),
    Transition(Action.mark_duplicate, Status.reopened, Status.duplicate, STAFF, needs_duplicate_of=True),
)

_BY_KEY = {(t.action, t.source): t for t in TRANSITIONS}


class WorkflowError(Exception):
    """An action that cannot be taken; ``status_code`` is the HTTP answer it deserves."""

    status_code = 400


class NotAllowed(WorkflowError):
    status_code = 403


class InvalidTransition(WorkflowError):
    status_code = 409


class MissingInput(WorkflowError):
    status_code = 422


@dataclass(frozen=True)
class ActionRequest:
    action: Action
    comment: str | None = None
    duplicate_of: int | None = None
    department: str | None = None


def find_transition(principal: Principal, ticket: Ticket, action: Action) -> Transition:
    """The row that allows this action now, or the error that says why there is none."""
    if not can_see(principal, ticket):
        raise NotAllowed(
            f"a {principal.role.value} token of {principal.department or 'no department'} "
            f"may not act on ticket {ticket.id} of {ticket.department or 'no department'}"
        )
    row = _BY_KEY.get((action, Status(ticket.status)))
    if row is None:
        allowed = sorted(t.action.value for t in TRANSITIONS if t.source == ticket.status)
        raise InvalidTransition(
            f"cannot {action.value} a ticket that is {ticket.status}; "
            f"allowed now: {', '.join(allowed) or 'nothing'}"
        )
    if principal.role not in row.roles:
        roles = ", ".join(sorted(r.value for r in row.roles))
        raise NotAllowed(f"{action.value} needs one of the roles {roles}, not {principal.role.value}")
    return row


@dataclass(frozen=True)
class WorkflowContext:
    """What an action needs beyond the ticket: the database, routing, the time and valid departments."""

    session: Session
    router: Router
    now: datetime
    departments: frozenset[str]


def apply_action(
    ctx: WorkflowContext, ticket: Ticket, principal: Principal, request: ActionRequest
) -> AuditEntry:
    """Move the ticket along one table row and record who did it; raises WorkflowError otherwise."""
    row = find_transition(principal, ticket, request.action)
    comment = (request.comment or "").strip() or None
    if row.needs_comment and comment is None:
        raise MissingInput(f"{row.action.value} needs a comment (the reason or the feedback)")
    if row.needs_duplicate_of:
        _check_duplicate_target(ctx.session, ticket, request.duplicate_of)
        ticket.duplicate_of = request.duplicate_of
    if row.action is Action.dispatch:
        _dispatch(ctx, ticket, request.department)
    _stamp(ticket, row.target, ctx.now)
    entry = _audit(ctx.session, ticket.id, row, principal, comment, ctx.now)
    ticket.status = row.target.value
    ticket.updated_at = ctx.now
    if row.review is not None:
        record_review(ctx.session, ticket.id, row.review, row.action.value, principal, comment, ctx.now)
    return entry


def open_ticket(
    session: Session, ticket: Ticket, principal: Principal, comment: str, now: datetime
) -> AuditEntry:
    """Add ``ticket`` (its type, place and routing filled in) in the table's first state, audited.

    ``principal`` is who asked: a device (``device:<id>``) for an edge event, staff for a hotline request.
    """
    if principal.role not in OPENING.roles:
        roles = ", ".join(sorted(r.value for r in OPENING.roles))
        raise NotAllowed(f"opening a ticket needs one of the roles {roles}, not {principal.role.value}")
    ticket.status = OPENING.target.value
    ticket.opened_at = ticket.updated_at = now
    session.add(ticket)
    session.flush()  # the audit entry needs the ticket's id
    return _audit(session, ticket.id, OPENING, principal, comment, now)


def _audit(
    session: Session,
    ticket_id: int,
    row: Transition,
    principal: Principal,
    comment: str | None,
    now: datetime,
) -> AuditEntry:
    """The entry that says who moved the ticket along ``row``, and when."""
    entry = AuditEntry(
        ticket_id=ticket_id,
        at=now,
        actor=principal.name,
        role=principal.role.value,
        action=row.action.value,
        from_status=None if row.source is None else row.source.value,
        to_status=row.target.value,
        comment=comment,
    )
    session.add(entry)
    return entry


def _check_duplicate_target(session: Session, ticket: Ticket, target_id: int | None) -> None:
    if target_id is None:
        raise MissingInput("mark_duplicate needs duplicate_of, the id of the ticket this one repeats")
    if target_id == ticket.id:
        raise MissingInput("a ticket cannot be a duplicate of itself")
    if session.get(Ticket, target_id) is None:
        raise MissingInput(f"duplicate_of names ticket {target_id}, which does not exist")


def _dispatch(ctx: WorkflowContext, ticket: Ticket, department: str | None) -> None:
    chosen = department or ticket.department
    if chosen is None:
        raise MissingInput(
            f"no route for {ticket.type} in district {ticket.district or '(unknown)'}; "
            "name the department to dispatch to"
        )
    if chosen not in ctx.departments:
        raise MissingInput(f"unknown department {chosen!r}; known: {', '.join(sorted(ctx.departments))}")
    assignment = ctx.router.for_department(ticket.type, ticket.district, chosen)
    ticket.department = chosen
    ticket.dispatched_at = ctx.now
    ticket.sign_by = assignment.sign_by(ctx.now)
    ticket.resolve_by = assignment.resolve_by(ctx.now)


def _stamp(ticket: Ticket, target: Status, now: datetime) -> None:
    """Record when the ticket reached a milestone; reopening or sending back clears the later ones."""
    if target in (Status.reopened, Status.new, Status.dispatched):
        ticket.accepted_at = ticket.resolved_at = ticket.closed_at = None
    if target is Status.accepted:
        ticket.accepted_at = now
    elif target is Status.resolved:
        ticket.resolved_at = now
    elif target in FINISHED:
        ticket.closed_at = now


def is_overdue(ticket: Ticket, now: datetime) -> bool:
    """Past the sign-for deadline without signing, or past the resolve deadline while with a department."""
    status = Status(ticket.status)
    if status is Status.dispatched and ticket.sign_by is not None and now > ticket.sign_by:
        return True
    return status in WITH_DEPARTMENT and ticket.resolve_by is not None and now > ticket.resolve_by


def overdue_clause(now: datetime) -> sa.ColumnElement[bool]:
    """``is_overdue`` as SQL, for filtering and counting in the database."""
    return sa.or_(
        sa.and_(Ticket.status == Status.dispatched.value, Ticket.sign_by < now),
        sa.and_(Ticket.status.in_([s.value for s in WITH_DEPARTMENT]), Ticket.resolve_by < now),
    )
