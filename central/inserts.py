"""Inserting a row unless one with its key exists, in one statement on SQLite and PostgreSQL alike.

Replicas (and concurrent requests) that race to record the same thing then never fail on the
unique key: the loser's insert does nothing and it reads the winner's row.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from central.models import Base


def insert_if_absent(session: Session, model: type[Base], **values: Any) -> None:
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    session.execute(insert(model).values(**values).on_conflict_do_nothing())
