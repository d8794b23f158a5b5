"""The durable queue between detection and the broker: an event is written here first and
leaves only when the broker has acknowledged it.

SQLite in WAL mode with ``synchronous=FULL`` makes each ``put`` durable once it returns, so
a power cut or ``kill -9`` at any moment loses nothing that was confirmed. Rows carry an
AUTOINCREMENT sequence number that is never reused, which gives delivery a stable order
and a cursor ("everything after seq N") that stays valid while rows are removed.

The outbox must always have room, or an event is lost: when SQLite finds the disk full
(``SQLITE_FULL``: a growing WAL or table), evidence is evicted for it first (``make_room``),
then the outbox's own reserve, a file of ``reserve_bytes`` allocated beside the database while
there was space, is given up; it is made again once there is room twice over. Only when both
are spent does a write fail, with ``OutboxFull``.
"""

from __future__ import annotations

import errno
import json
import os
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import structlog

from contract.event import Event, MediaRef

log = structlog.get_logger(__name__)

ROOM_WANTED = 4 << 20
"""What the outbox asks evidence to free when the disk is full: a WAL's worth (SQLite's automatic
checkpoint restarts the WAL at 1000 pages, 4 MiB)."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id   TEXT NOT NULL UNIQUE,
    topic      TEXT NOT NULL,
    payload    BLOB NOT NULL,
    media      TEXT NOT NULL,
    created_at REAL NOT NULL
)
"""


class OutboxFull(OSError):
    """The disk is full, no evidence is left to evict and the outbox's reserve is spent."""

    def __init__(self, message: str) -> None:
        super().__init__(errno.ENOSPC, message)


@dataclass(frozen=True)
class OutboxItem:
    """One queued message, ready to publish as it stands."""

    seq: int
    event_id: str
    topic: str
    payload: bytes
    media: list[MediaRef]


class Outbox:
    """Thread-safe: pipelines put, delivery reads and removes, status counts."""

    def __init__(
        self, path: Path, *, reserve_bytes: int = 0, make_room: Callable[[int], bool] | None = None
    ) -> None:
        """``make_room(bytes)`` frees that much disk space if it can (by evicting evidence); it
        returns False when it had nothing left to free."""
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._reserve = path.with_name(path.name + ".reserve")
        self._reserve_bytes = reserve_bytes
        self._make_room = make_room
        # Autocommit: every statement is its own transaction, durable when it returns.
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=30.0)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        # A short WAL (400 KiB, not SQLite's 4 MiB) restarts sooner, so a full disk costs the outbox less room.
        self._db.execute("PRAGMA wal_autocheckpoint=100")
        self._db.execute(_SCHEMA)
        self._lock = threading.Lock()
        self._listeners: list[Callable[[], None]] = []
        self._reserved = self._reserve.stat().st_size if self._reserve.exists() else 0
        self._restore_reserve(evict=True)
        log.info("outbox opened", path=str(path), pending=self.count(), reserve_bytes=self._reserved)

    def add_listener(self, listener: Callable[[], None]) -> None:
        """Called after each put, so delivery can wake instead of polling; must not block."""
        self._listeners.append(listener)

    def put(self, topic: str, event: Event) -> None:
        """Durable on return. A second put of the same ``event_id`` is ignored, not an error."""
        media = json.dumps([ref.model_dump(mode="json") for ref in event.media])
        with self._lock:
            cursor = self._write(
                "INSERT INTO outbox (event_id, topic, payload, media, created_at) VALUES (?, ?, ?, ?, ?)"
                " ON CONFLICT (event_id) DO NOTHING",
                (str(event.event_id), topic, event.to_json().encode(), media, time.time()),
            )
        if cursor.rowcount == 0:
            log.info("event already in the outbox", event_id=str(event.event_id))
            return
        for listener in self._listeners:
            listener()

    def pending(self, limit: int, after_seq: int = 0) -> list[OutboxItem]:
        """The oldest ``limit`` items with ``seq > after_seq``."""
        with self._lock:
            rows = self._db.execute(
                "SELECT seq, event_id, topic, payload, media FROM outbox WHERE seq > ? ORDER BY seq LIMIT ?",
                (after_seq, limit),
            ).fetchall()
        return [
            OutboxItem(
                seq, event_id, topic, bytes(payload), [MediaRef.model_validate(m) for m in json.loads(media)]
            )
            for seq, event_id, topic, payload, media in rows
        ]

    def remove(self, seq: int) -> None:
        """Even on a full disk: a delete writes to the WAL too."""
        with self._lock:
            self._write("DELETE FROM outbox WHERE seq = ?", (seq,))
            if self._reserved < self._reserve_bytes:
                self._restore_reserve(evict=False)

    @property
    def reserve_intact(self) -> bool:
        """Whether the whole reserve is set aside (False: the outbox has been living on it)."""
        return self._reserved >= self._reserve_bytes

    def count(self) -> int:
        with self._lock:
            (count,) = self._db.execute("SELECT COUNT(*) FROM outbox").fetchone()
        return int(count)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _write(self, sql: str, params: tuple[object, ...]) -> sqlite3.Cursor:
        """Run one write; on a full disk, make room and try again while room can be made."""
        while True:
            try:
                return self._db.execute(sql, params)
            except sqlite3.OperationalError as err:
                if err.sqlite_errorcode != sqlite3.SQLITE_FULL:
                    raise
                if not self._relieve():
                    raise OutboxFull(
                        f"outbox {self.path}: the disk is full, no evidence is left to evict "
                        "and the outbox's reserve is spent"
                    ) from err

    def _relieve(self) -> bool:
        """Evidence goes first, then the reserve; False when neither had anything left."""
        if self._make_room is not None and self._make_room(ROOM_WANTED):
            log.warning("disk full: evidence evicted to make room for the outbox", path=str(self.path))
            return True
        if not self._reserved:
            return False
        self._reserve.unlink(missing_ok=True)
        log.warning(
            "disk full: the outbox's reserve is released for it",
            path=str(self.path),
            reserve_bytes=self._reserved,
        )
        self._reserved = 0
        return True

    def _restore_reserve(self, *, evict: bool) -> None:
        """Allocate the reserve when there is room for it twice over (so that making it does not
        itself fill the disk); at open, evidence makes way for it (``evict``)."""
        wanted = self._reserve_bytes - self._reserved
        if wanted <= 0:
            return
        if evict and self._make_room is not None:
            self._make_room(2 * wanted)
        if _free_bytes(self._reserve.parent) < 2 * wanted:
            return
        try:
            with self._reserve.open("ab") as reserve:
                os.posix_fallocate(reserve.fileno(), 0, self._reserve_bytes)
                os.fsync(reserve.fileno())
        except OSError as err:
            self._reserve.unlink(missing_ok=True)
            self._reserved = 0
            log.warning("outbox reserve could not be allocated", path=str(self._reserve), error=str(err))
            return
        self._reserved = self._reserve_bytes
        log.info("outbox reserve allocated", path=str(self._reserve), reserve_bytes=self._reserved)


def _free_bytes(folder: Path) -> int:
    stat = os.statvfs(folder)
    return stat.f_bavail * stat.f_frsize
