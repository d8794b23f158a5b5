"""Per-department figures: how many tickets are open and overdue, how often and how fast they close.

Everything is counted in the database, so the figures over a year of tickets cost one pass over an
index rather than every row in Python. The median time to close is ``percentile_cont(0.5)`` on
PostgreSQL, which interpolates between the two middle values exactly as ``statistics.median`` does;
SQLite has no percentile function, so there the durations are read and the median taken in Python.
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

NOT_FINISHED = [s.value for s in Status if s not in FINISHED]
"""Listed rather than negated, so the database reads the few open tickets from the status index."""


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
    open_counts = _counts(session, Ticket.status.in_(NOT_FINISHED))
    overdue_counts = _counts(session, overdue_clause(now))
    window = [Ticket.opened_at >= since] if since is not None else []
    resolved = _resolved(session, window)
    hours = _median_hours(session, window)
    figures = []
    for d in departments:
        count, on_time = resolved.get(d, (0, 0))
        figures.append(
            DepartmentFigures(
                department=d,
                open=open_counts.get(d, 0),
                overdue=overdue_counts.get(d, 0),
                resolved=count,
                on_time_rate=on_time / count if count else None,
                median_hours_to_close=hours.get(d),
            )
        )
    return figures


def _counts(session: Session, condition: sa.ColumnElement[bool]) -> dict[str, int]:
    rows = session.execute(
        sa.select(Ticket.department, sa.func.count())
        .where(condition, Ticket.department.is_not(None))
        .group_by(Ticket.department)
    )
    return {department: count for department, count in rows if department is not None}


def _resolved(session: Session, window: list[sa.ColumnElement[bool]]) -> dict[str, tuple[int, int]]:
    """Per department: tickets resolved, and how many of them by their resolve deadline (or without one)."""
    on_time = sa.or_(Ticket.resolve_by.is_(None), Ticket.resolved_at <= Ticket.resolve_by)
    rows = session.execute(
        sa.select(Ticket.department, sa.func.count(), sa.func.sum(sa.case((on_time, 1), else_=0)))
        .where(Ticket.resolved_at.is_not(None), Ticket.department.is_not(None), *window)
        .group_by(Ticket.department)
    )
    return {department: (count, int(on_time_count or 0)) for department, count, on_time_count in rows}


def _median_hours(session: Session, window: list[sa.ColumnElement[bool]]) -> dict[str, float]:
    """Per department: the median of dispatch-to-close hours over closed tickets."""
    closed = [
        Ticket.status == Status.closed.value,
        Ticket.dispatched_at.is_not(None),
        Ticket.department.is_not(None),
        *window,
    ]
    if session.get_bind().dialect.name == "postgresql":
        seconds = sa.extract("epoch", Ticket.closed_at - Ticket.dispatched_at)
        rows = session.execute(
            sa.select(Ticket.department, sa.func.percentile_cont(0.5).within_group(seconds))
            .where(*closed)
            .group_by(Ticket.department)
        )
        return {department: float(median) / 3600 for department, median in rows if median is not None}
    hours: dict[str, list[float]] = defaultdict(list)
    for department, dispatched_at, closed_at in session.execute(
        sa.select(Ticket.department, Ticket.dispatched_at, Ticket.closed_at).where(*closed)
    ):
        if department is not None and dispatched_at is not None and closed_at is not None:
            hours[department].append((closed_at - dispatched_at).total_seconds() / 3600)
    return {department: statistics.median(values) for department, values in hours.items()}
