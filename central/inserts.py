"""Inserting rows in one statement: a row unless one with its key exists, and a batch of events.

Replicas (and concurrent requests) that race to record the same thing then never fail on the
unique key: the loser's insert does nothing and it reads the winner's row. A batch of events goes
in as one multi-row insert (and one for their media), not a statement an event.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from central.models import Base, Event, EventMedia


def insert_if_absent(session: Session, model: type[Base], **values: Any) -> None:
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    session.execute(insert(model).values(**values).on_conflict_do_nothing())


def insert_events(session: Session, events: list[dict[str, Any]], media: list[list[dict[str, Any]]]) -> None:
    """Insert ``events`` (column values) and each one's ``media`` (values without ``event_pk``).

    The media rows need the events' ids. PostgreSQL hands out a batch of ids in one query, and the rows
    then go in as pipelined executemany (psycopg parses a multi-row VALUES of 500 rows slowly); SQLite
    returns the ids of one multi-row insert.
    """
    if not events:
        return
    if session.get_bind().dialect.name == "postgresql":
        ids = list(
            session.scalars(
                sa.text("SELECT nextval(pg_get_serial_sequence('events', 'id')) FROM generate_series(1, :n)"),
                {"n": len(events)},
            )
        )
        session.execute(sa.insert(Event), [{**e, "id": i} for e, i in zip(events, ids, strict=True)])
    else:
        returning = sa.insert(Event).returning(Event.id, sort_by_parameter_order=True)
        ids = list(session.execute(returning, events).scalars())
    rows = [{**m, "event_pk": pk} for pk, refs in zip(ids, media, strict=True) for m in refs]
    if rows:
        session.execute(sa.insert(EventMedia), rows)
