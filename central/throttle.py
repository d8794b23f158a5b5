"""Login throttling: failed logins make the next try from the same account, or the same client
address, wait; the wait starts at 1 s and doubles with each further failure, up to a cap.

Each wrong password costs 80-150 ms of scrypt; without a limit a guesser only pays for hardware.
Every try is counted *before* its password is checked, in one upsert per key whose row lock
(PostgreSQL) or write lock (SQLite) serialises concurrent tries, so a burst of parallel guesses
meets the wait as surely as a sequence does, and a try that must wait is refused without hashing
anything (its count is rolled back). A success forgets the account's failures and gives back the
address the try it counted. The counts live in the database, not in a replica's memory: behind a
load balancer every replica sees the same waits.

An account's own counter is keyed by the name as typed, so names that do not exist are throttled
exactly like real ones and the answer tells a guesser nothing about which exist.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, sessionmaker

from central.clock import Clock
from central.config import LoginConfig
from central.models import LoginThrottle as Row

_PRUNE_BATCH = 1000


class Throttled(Exception):
    """The caller must wait ``retry_after_s`` seconds before trying again."""

    def __init__(self, retry_after_s: int) -> None:
        super().__init__(
            f"too many failed logins for this account or from this address; try again in {retry_after_s} s"
        )
        self.retry_after_s = retry_after_s


@dataclass(frozen=True)
class Key:
    """One counter and the failures it allows before tries must wait."""

    name: str
    free: int


def account_key(username: str) -> str:
    return f"account:{username}"


class LoginThrottle:
    def __init__(self, sessions: sessionmaker[Session], config: LoginConfig, clock: Clock) -> None:
        self._sessions = sessions
        self._config = config
        self._clock = clock

    def keys(self, username: str | None, address: str | None) -> list[Key]:
        """The counters one login try is charged to: its account (if it names one) and its address."""
        keys = [Key(account_key(username), self._config.free_attempts)] if username is not None else []
        if address:
            keys.append(Key(f"address:{address}", self._config.address_free_attempts))
        return keys

    def admit(self, keys: Sequence[Key]) -> None:
        """Count a try against every key; raises Throttled (counting nothing) while any key must wait."""
        now = self._clock.now()
        with self._sessions.begin() as session:
            waits = [self._claim(session, key, now) for key in sorted(keys, key=lambda k: k.name)]
            if any(waits):
                raise Throttled(max(waits))
        self._prune(now)

    def succeeded(self, keys: Sequence[Key]) -> None:
        """A right password: the account starts afresh, and the address gets back the try it was charged."""
        with self._sessions.begin() as session:
            for key in keys:
                if key.name.startswith("account:"):
                    session.execute(sa.delete(Row).where(Row.key == key.name))
                else:
                    session.execute(
                        sa.update(Row)
                        .where(Row.key == key.name, Row.attempts > 0)
                        .values(attempts=Row.attempts - 1)
                    )

    def delay(self, attempts: int, free: int) -> int:
        """Seconds the next try waits after ``attempts`` tries, ``free`` of them without a wait."""
        if attempts < free:
            return 0
        doubling: int = 2 ** min(attempts - free, 32)
        return min(doubling, self._config.max_delay_s)

    def _claim(self, session: Session, key: Key, now: datetime) -> int:
        """Count one try on ``key``; 0 when it may go ahead, else the seconds it must still wait."""
        stale = now - timedelta(seconds=self._config.forget_after_s)
        insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
        upsert = insert(Row).values(key=key.name, attempts=1, last_attempt_at=now, locked_until=None)
        counted = upsert.on_conflict_do_update(
            index_elements=[Row.key],
            set_={
                "attempts": sa.case((Row.last_attempt_at < stale, 1), else_=Row.attempts + 1),
                "last_attempt_at": now,
            },
        ).returning(Row.attempts, Row.locked_until)
        row = session.execute(counted).one()
        attempts: int = row.attempts
        locked_until: datetime | None = row.locked_until
        if locked_until is not None and locked_until > now:
            return math.ceil((locked_until - now).total_seconds())
        wait = self.delay(attempts, key.free)
        if wait:
            session.execute(
                sa.update(Row).where(Row.key == key.name).values(locked_until=now + timedelta(seconds=wait))
            )
        return 0

    def _prune(self, now: datetime) -> None:
        """Drop forgotten counters; rows another login holds are skipped, so this never waits on one."""
        stale = now - timedelta(seconds=self._config.forget_after_s)
        forgotten = (
            sa.select(Row.key)
            .where(Row.last_attempt_at < stale, sa.or_(Row.locked_until.is_(None), Row.locked_until < now))
            .limit(_PRUNE_BATCH)
            .with_for_update(skip_locked=True)
        )
        with self._sessions.begin() as session:
            session.execute(sa.delete(Row).where(Row.key.in_(forgotten.scalar_subquery())))


def forget_account(session: Session, username: str) -> None:
    """Clear an account's failures (an administrator reset its password)."""
    session.execute(sa.delete(Row).where(Row.key == account_key(username)))
