"""The ticket change feed: which tickets changed, for the console's live queue.

Where the changes come from: the audit log, polled. Every ticket change (opening by ingest, every
action by a person) writes an audit entry, and several central replicas may run: ingest is split
between them by the MQTT shared subscription and the API by the load balancer, so a replica sees
only a share of the changes in its own process. The database sees them all, on SQLite and on
PostgreSQL alike, so each replica runs **one** poller (a query a second, only while someone
listens, stopping ``IDLE_STOP_S`` after the last listener leaves) and fans its results out to its
listeners. The latency is the poll interval; the cost is independent of the number of browsers.

Ids from a PostgreSQL sequence are not committed in order: a transaction holding id 11 may commit
after one holding id 12. The poller keeps the ids it skipped (gaps) and asks for them again for
``GAP_GRACE_S``, so a late commit is still reported.

Each change says only "ticket N changed (action, new status)"; the console refetches what it
shows through the ordinary API, which applies the usual permissions. Department staff are sent
only their own department's changes (``central/visibility.py``). A replica told to stop (SIGTERM)
ends its streams at once (``before_stop_signals``). ``Services`` owns the feed; the SSE route is
``central/api/events_stream.py``.
"""

from __future__ import annotations

import asyncio
import secrets
import signal
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from datetime import datetime
from types import FrameType
from typing import Literal

import sqlalchemy as sa
import structlog
from pydantic import BaseModel
from sqlalchemy import exc as sa_exc
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from central.auth import Principal
from central.models import AuditEntry, Ticket
from central.visibility import ticket_scope

log = structlog.get_logger(__name__)

POLL_S = 1.0
GAP_GRACE_S = 30.0
MAX_GAP = 1000
"""More ids skipped at once than this are not chased (a sequence jump, not transactions in flight)."""
HISTORY = 1000
IDLE_STOP_S = 10.0
QUEUE = 256

Signal = Literal["reset", "close"]
"""Queued instead of a change: the console must reload (it fell behind), or the stream must end."""


class TicketChange(BaseModel):
    ticket_id: int
    action: str
    to_status: str
    department: str | None
    at: datetime


@dataclass(eq=False)
class _Listener:
    """One open stream; compared and hashed by identity, as a member of the feed's set."""

    principal: Principal
    queue: asyncio.Queue[tuple[int, TicketChange] | Signal] = field(
        default_factory=lambda: asyncio.Queue(QUEUE)
    )

    def offer(self, seq: int, change: TicketChange) -> None:
        if not ticket_scope(self.principal).admits(change.department):
            return
        try:
            self.queue.put_nowait((seq, change))
        except asyncio.QueueFull:  # a stalled browser: drop its backlog and tell it to reload
            self.signal("reset")

    def signal(self, what: Signal) -> None:
        while not self.queue.empty():
            self.queue.get_nowait()
        self.queue.put_nowait(what)


@dataclass(frozen=True)
class Ready:
    stream: str
    resumed: bool


class ChangeFeed:
    """One poller per replica over the audit log, fanned out to this replica's listeners."""

    def __init__(self, sessions: sessionmaker[Session], poll_s: float = POLL_S) -> None:
        self._sessions = sessions
        self._poll_s = poll_s
        self._listeners: set[_Listener] = set()
        self._task: asyncio.Task[None] | None = None
        self.closing = False
        self._reset()

    def _reset(self) -> None:
        self._epoch = secrets.token_hex(4)
        self._cursor: int | None = None
        self._gaps: dict[int, float] = {}
        self._seq = 0
        self._history: deque[tuple[int, TicketChange]] = deque(maxlen=HISTORY)

    def _stream_id(self, seq: int) -> str:
        return f"{self._epoch}:{seq}"

    @asynccontextmanager
    async def listen(
        self, principal: Principal, last_event_id: str | None
    ) -> AsyncIterator[tuple[_Listener, Ready]]:
        if self._cursor is None:
            self._cursor = await run_in_threadpool(self._newest_id)
        listener = _Listener(principal)
        resumed = self._replay(listener, last_event_id)
        self._listeners.add(listener)
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="ticket-change-feed")
        try:
            yield listener, Ready(stream=self._stream_id(self._seq), resumed=resumed)
        finally:
            self._listeners.discard(listener)

    def _replay(self, listener: _Listener, last_event_id: str | None) -> bool:
        """Queue what a reconnecting listener missed; False when this feed cannot know that."""
        epoch, _, seq_text = (last_event_id or "").partition(":")
        if epoch != self._epoch or not seq_text.isdigit():
            return False
        seq = int(seq_text)
        oldest = self._history[0][0] if self._history else self._seq + 1
        if seq > self._seq or seq < oldest - 1:
            return False
        for number, change in self._history:
            if number > seq:
                listener.offer(number, change)
        return True

    def close_streams(self) -> None:
        """End every stream now (the process is stopping); browsers reconnect to another replica."""
        self.closing = True
        for listener in list(self._listeners):
            listener.signal("close")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        idle_since: float | None = None
        try:
            while True:
                await asyncio.sleep(self._poll_s)
                if not self._listeners:
                    idle_since = idle_since or time.monotonic()
                    if time.monotonic() - idle_since > IDLE_STOP_S:
                        break
                    continue
                idle_since = None
                try:
                    changes = await run_in_threadpool(self._poll)
                except sa_exc.SQLAlchemyError as err:  # the database may be away for a while; keep trying
                    log.warning("ticket change poll failed", error=str(err))
                    continue
                for audit_id, change in changes:
                    self._publish(audit_id, change)
        finally:
            log.debug("ticket change feed stopped", listeners=len(self._listeners))
            self._reset()
            self._task = None

    def _newest_id(self) -> int:
        with self._sessions() as session:
            return session.scalar(sa.select(sa.func.max(AuditEntry.id))) or 0

    def _poll(self) -> list[tuple[int, TicketChange]]:
        cursor = self._cursor or 0
        now = time.monotonic()
        self._gaps = {gap: since for gap, since in self._gaps.items() if now - since < GAP_GRACE_S}
        wanted = AuditEntry.id > cursor
        if self._gaps:
            wanted = sa.or_(wanted, AuditEntry.id.in_(list(self._gaps)))
        query = (
            sa.select(
                AuditEntry.id,
                AuditEntry.ticket_id,
                AuditEntry.action,
                AuditEntry.to_status,
                AuditEntry.at,
                Ticket.department,
            )
            .join(Ticket, Ticket.id == AuditEntry.ticket_id)
            .where(wanted)
            .order_by(AuditEntry.id)
            .limit(500)
        )
        with self._sessions() as session:
            return [
                (
                    audit_id,
                    TicketChange(
                        ticket_id=ticket_id, action=action, to_status=to_status, department=department, at=at
                    ),
                )
                for audit_id, ticket_id, action, to_status, at, department in session.execute(query)
            ]

    def _publish(self, audit_id: int, change: TicketChange) -> None:
        cursor = self._cursor or 0
        if audit_id in self._gaps:
            del self._gaps[audit_id]
        elif audit_id > cursor:
            noticed = time.monotonic()
            for missing in range(max(cursor + 1, audit_id - MAX_GAP), audit_id):
                self._gaps[missing] = noticed
            self._cursor = audit_id
        else:
            return
        self._seq += 1
        self._history.append((self._seq, change))
        for listener in list(self._listeners):
            listener.offer(self._seq, change)

    def event_id(self, seq: int | None = None) -> str:
        return self._stream_id(self._seq if seq is None else seq)


def before_stop_signals(callback: Callable[[], None]) -> Callable[[], None]:
    """Run ``callback`` on the loop when SIGTERM or SIGINT arrives, then the handler that was there
    (uvicorn's). uvicorn waits for open responses before shutting down and tells the app nothing,
    so without this an open stream would hold a stopping replica for up to a stream's length
    (``events_stream.STREAM_S``). Only the main thread may set handlers; elsewhere (a test client)
    streams just run to their end."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    loop = asyncio.get_running_loop()
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}

    def handler(signum: int, frame: FrameType | None) -> None:
        loop.call_soon_threadsafe(callback)
        prior = previous[signal.Signals(signum)]
        if callable(prior):
            prior(signum, frame)
        else:  # nobody else handled it: act as if we had not been here
            signal.signal(signum, prior if prior is not None else signal.SIG_DFL)
            signal.raise_signal(signum)

    for sig in previous:
        signal.signal(sig, handler)

    def undo() -> None:
        for sig, prior in previous.items():
            if signal.getsignal(sig) is handler:
                signal.signal(sig, prior if prior is not None else signal.SIG_DFL)

    return undo
