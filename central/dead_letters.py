"""Messages ingest acknowledged but could not file: kept whole, so nothing acknowledged is only a log line.

A message lands here when storing it failed on its own, outside a batch, for a reason retrying
cannot cure (a bug, a value a column cannot hold). Admins see the rows in the API and the console;
``gridwatch-central dead-letters replay`` hands them to ingest again once the cause is fixed, and a
replayed row is deleted when ingest no longer fails on it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, Session, mapped_column, sessionmaker

from central.models import Base, BigId, UtcDateTime

ERROR_CHARS = 4000
"""The stored error text at most (a traceback's last line is what an admin needs)."""


class DeadLetter(Base):
    """One message as it came off the broker, and why it could not be filed."""

    __tablename__ = "dead_letters"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    topic: Mapped[str] = mapped_column(sa.String(512))
    device_id: Mapped[str | None] = mapped_column(sa.String(128))
    payload: Mapped[bytes] = mapped_column(sa.LargeBinary)
    error: Mapped[str] = mapped_column(sa.Text)
    failed_at: Mapped[datetime] = mapped_column(UtcDateTime)


@dataclass(frozen=True)
class Letter:
    """A message to keep: where it came from, its bytes, and the error that stopped it."""

    topic: str
    device_id: str | None
    payload: bytes
    error: str


def keep(session: Session, letter: Letter, now: datetime) -> None:
    session.add(
        DeadLetter(
            topic=letter.topic[:512],
            device_id=letter.device_id[:128] if letter.device_id else None,
            payload=letter.payload,
            error=letter.error[:ERROR_CHARS],
            failed_at=now,
        )
    )


def count(session: Session) -> int:
    return session.scalar(sa.select(sa.func.count()).select_from(DeadLetter)) or 0


def newest(session: Session, limit: int, before_id: int | None = None) -> list[DeadLetter]:
    """Newest first; ``before_id`` pages back."""
    query = sa.select(DeadLetter).order_by(DeadLetter.id.desc()).limit(limit)
    if before_id is not None:
        query = query.where(DeadLetter.id < before_id)
    return list(session.scalars(query))


Replay = Callable[[str, bytes], bool | None]
"""Hands a message to ingest again: True when it is filed now (or no longer needs to be), False when it
failed again (ingest kept a new letter), None when ingest could not try (the database went away)."""


def replay(sessions: sessionmaker[Session], handle: Replay, only_id: int | None = None) -> tuple[int, int]:
    """Replay the dead letters (or one), oldest first: (filed, still failing).

    A letter is deleted once ingest has tried it: one that fails again has meanwhile been kept as a
    new letter with the new error, so there is always one row per message still failing. Replaying
    stops at the first message ingest could not try.
    """
    with sessions() as session:
        query = sa.select(DeadLetter).order_by(DeadLetter.id)
        if only_id is not None:
            query = query.where(DeadLetter.id == only_id)
        letters = [(letter.id, letter.topic, bytes(letter.payload)) for letter in session.scalars(query)]
    filed = failing = 0
    for letter_id, topic, payload in letters:
        result = handle(topic, payload)
        if result is None:
            break
        with sessions.begin() as session:
            session.execute(sa.delete(DeadLetter).where(DeadLetter.id == letter_id))
        filed, failing = (filed + 1, failing) if result else (filed, failing + 1)
    return filed, failing
