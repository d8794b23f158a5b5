"""The durable queue between detection and the broker: an event is written here first and
leaves only when the broker has acknowledged it.

SQLite in WAL mode with ``synchronous=FULL`` makes each ``put`` durable once it returns, so
a power cut or ``kill -9`` at any moment loses nothing that was confirmed. Rows carry an
AUTOINCREMENT sequence number that is never reused, which gives delivery a stable order
and a cursor ("everything after seq N") that stays valid while rows are removed.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import structlog

from contract.event import Event, MediaRef

log = structlog.get_logger(__name__)

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

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        # Autocommit: every statement is its own transaction, durable when it returns.
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=30.0)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute(_SCHEMA)
        self._lock = threading.Lock()
        self._listeners: list[Callable[[], None]] = []
        log.info("outbox opened", path=str(path), pending=self.count())

    def add_listener(self, listener: Callable[[], None]) -> None:
        """Called after each put, so delivery can wake instead of polling; must not block."""
        self._listeners.append(listener)

    def put(self, topic: str, event: Event) -> None:
        """Durable on return. A second put of the same ``event_id`` is ignored, not an error."""
        media = json.dumps([ref.model_dump(mode="json") for ref in event.media])
        with self._lock:
            cursor = self._db.execute(
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
            OutboxItem(seq, event_id, topic, bytes(payload), [MediaRef.model_validate(m) for m in json.loads(media)])
            for seq, event_id, topic, payload, media in rows
        ]

    def remove(self, seq: int) -> None:
        with self._lock:
            self._db.execute("DELETE FROM outbox WHERE seq = ?", (seq,))

    def count(self) -> int:
        with self._lock:
            (count,) = self._db.execute("SELECT COUNT(*) FROM outbox").fetchone()
        return int(count)

    def close(self) -> None:
        with self._lock:
            self._db.close()
