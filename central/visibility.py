"""Who may see what: one rule per role, read both as a Python test and as a SQL condition.

A caller's reach over tickets is a ``TicketScope``: every ticket, or those of a set of departments
(possibly none). ``TicketScope.admits`` and ``TicketScope.holds`` are two readings of that one
value, so the queue's SQL, the change feed's filter, the media check and the check on one ticket
cannot drift apart. Admins and operators see every ticket; department staff see their own
department's tickets (never one without a department); devices see none.

Cameras follow a different rule on the same role split: department staff see the cameras of the
districts their department's routes cover (``Router.districts_of``), because a camera has no
department of its own and a ticket can be dispatched away from the department its camera routes to.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from central.auth import STAFF, Principal, Role
from central.models import Camera, Ticket
from central.routing import Router

SEES_ALL = STAFF
"""Roles that see every ticket and every camera."""


@dataclass(frozen=True)
class TicketScope:
    """The tickets a caller may see, by the department a ticket belongs to."""

    departments: frozenset[str] | None
    """None: every ticket, with or without a department; otherwise only these departments' tickets."""

    @property
    def everything(self) -> bool:
        return self.departments is None

    def admits(self, department: str | None) -> bool:
        """Whether a ticket of ``department`` (None: not yet routed) lies in the scope."""
        return self.departments is None or department in self.departments

    def holds(self) -> sa.ColumnElement[bool]:
        """``admits`` as a condition on ``Ticket`` rows (a NULL department is in no named set)."""
        if self.departments is None:
            return sa.true()
        return Ticket.department.in_(sorted(self.departments))


EVERY_TICKET = TicketScope(None)
NO_TICKET = TicketScope(frozenset())


def ticket_scope(principal: Principal) -> TicketScope:
    """The caller's reach over tickets; a role not named here sees nothing."""
    if principal.role in SEES_ALL:
        return EVERY_TICKET
    if principal.role is Role.department and principal.department:
        return TicketScope(frozenset({principal.department}))
    return NO_TICKET


def can_see(principal: Principal, ticket: Ticket) -> bool:
    return ticket_scope(principal).admits(ticket.department)


def visible_tickets(principal: Principal) -> sa.ColumnElement[bool]:
    """``can_see`` as a condition on ``Ticket`` rows."""
    return ticket_scope(principal).holds()


def visible_cameras(principal: Principal, router: Router) -> sa.ColumnElement[bool] | None:
    """None when the caller sees every camera; otherwise the condition on ``Camera`` rows it sees."""
    if principal.role in SEES_ALL:
        return None
    if principal.role is Role.department and principal.department:
        return router.districts_of(principal.department).holds(Camera.district)
    return sa.false()
