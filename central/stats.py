"""Per-department figures: how many tickets are open and overdue, how often and how fast they close.

Medians are computed in Python rather than SQL so that SQLite and PostgreSQL give the same answer.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from central.models import Ticket
from central.workflow import FINISHED, Status, overdue_clause


@dataclass(frozen=True)
class DepartmentFigures:
    department: str
    open: int
    overdue: int
    resolved: int
    on_time_rate: float | None
    median_hours_to_close: float | None


def department_figures(
    session: Session, departments: list[str], now: datetime, since: datetime | None = None
) -> list[DepartmentFigures]:
    """Figures for each named department; ``since`` limits resolved/closed counts to tickets opened since."""
    open_counts = _counts(session, sa.not_(Ticket.status.in_([s.value for s in FINISHED])))
    overdue_counts = _counts(session, overdue_clause(now))
    window = [Ticket.opened_at >= since] if since is not None else []
    resolved: dict[str, list[bool]] = defaultdict(list)
    for ticket in session.execute(
        sa.select(Ticket.department, Ticket.resolved_at, Ticket.resolve_by).where(
            Ticket.resolved_at.is_not(None), Ticket.department.is_not(None), *window
        )
    ):
        department, resolved_at, resolve_by = ticket
        if department is not None and resolved_at is not None:
            resolved[department].append(resolve_by is None or resolved_at <= resolve_by)
    hours: dict[str, list[float]] = defaultdict(list)
    for ticket in session.execute(
        sa.select(Ticket.department, Ticket.dispatched_at, Ticket.closed_at).where(
            Ticket.status == Status.closed.value,
            Ticket.dispatched_at.is_not(None),
            Ticket.department.is_not(None),
            *window,
        )
    ):
        department, dispatched_at, closed_at = ticket
        if department is not None and dispatched_at is not None and closed_at is not None:
            hours[department].append((closed_at - dispatched_at).total_seconds() / 3600)
    return [
        DepartmentFigures(
            department=d,
            open=open_counts.get(d, 0),
            overdue=overdue_counts.get(d, 0),
            resolved=len(resolved[d]),
            on_time_rate=sum(resolved[d]) / len(resolved[d]) if resolved[d] else None,
            median_hours_to_close=statistics.median(hours[d]) if hours[d] else None,
        )
        for d in departments
    ]


def _counts(session: Session, condition: sa.ColumnElement[bool]) -> dict[str, int]:
    rows = session.execute(
        sa.select(Ticket.department, sa.func.count())
        .where(condition, Ticket.department.is_not(None))
        .group_by(Ticket.department)
    )
    return {department: count for department, count in rows if department is not None}
