"""Retention: the evidence of tickets finished long ago is purged; the tickets and their audit trail stay.

A ticket finished (closed, rejected or duplicate) more than ``retention.evidence_days`` ago loses its
event rows, their media references, and the media rows and files that no remaining event refers
to (evidence is stored once by hash, and another event may share it). The work goes in batches of
``retention.batch_events`` events, one short transaction each, so no table is locked for long and
ingest and the console carry on meanwhile. On PostgreSQL a batch first takes a transaction-level
advisory lock, so replicas purging at the same time take turns rather than block each other.

Files are removed before the batch commits: a failure then leaves the rows in place and the next
run deletes the same files again (a missing file is no error), so nothing is left behind unseen.
"""

from __future__ import annotations

import asyncio
import threading
from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
import structlog
from sqlalchemy import exc as sa_exc
from sqlalchemy.orm import Session, sessionmaker

from central.clock import Clock
from central.config import RetentionConfig
from central.media import MediaStore, MediaUnavailable
from central.models import Event, EventMedia, MediaObject, Ticket
from central.workflow import FINISHED

log = structlog.get_logger(__name__)

_PURGE_LOCK = 0x67727074  # any constant distinct from the migration lock's


@dataclass(frozen=True)
class PurgeReport:
    """What a purge removed, or with ``dry_run`` what it would remove."""

    events: int = 0
    references: int = 0
    media: int = 0
    dry_run: bool = False

    def __add__(self, other: PurgeReport) -> PurgeReport:
        return PurgeReport(
            self.events + other.events,
            self.references + other.references,
            self.media + other.media,
            self.dry_run,
        )


class Retention:
    """Purges expired evidence in batches; ``stop`` ends a running purge after its current batch."""

    def __init__(
        self, sessions: sessionmaker[Session], media: MediaStore, config: RetentionConfig, clock: Clock
    ) -> None:
        self._sessions = sessions
        self._media = media
        self._config = config
        self._clock = clock
        self._stopping = threading.Event()

    def cutoff(self) -> datetime | None:
        """Tickets finished before this have expired evidence; None when evidence is kept forever."""
        if self._config.evidence_days is None:
            return None
        return self._clock.now() - timedelta(days=self._config.evidence_days)

    def purge(self, dry_run: bool = False) -> PurgeReport:
        """Purge every expired event, a batch at a time, until none is left or ``stop`` is called."""
        cutoff = self.cutoff()
        if cutoff is None:
            return PurgeReport(dry_run=dry_run)
        if dry_run:
            return self._count(cutoff)
        total = PurgeReport()
        while not self._stopping.is_set():
            batch = self._purge_batch(cutoff)
            if batch is None or batch.events == 0:
                break
            total += batch
        if total.events:
            log.info("expired evidence purged", cutoff=cutoff.isoformat(), **total.__dict__)
        return total

    def stop(self) -> None:
        self._stopping.set()

    def _purge_batch(self, cutoff: datetime) -> PurgeReport | None:
        """One transaction; None when another replica is purging now."""
        with self._sessions.begin() as session:
            postgres = session.get_bind().dialect.name == "postgresql"
            if postgres and not session.scalar(sa.select(sa.func.pg_try_advisory_xact_lock(_PURGE_LOCK))):
                return None
            events = list(session.scalars(_expired_events(cutoff).limit(self._config.batch_events)))
            if not events:
                return PurgeReport()
            references = session.execute(
                sa.select(EventMedia.id, EventMedia.sha256).where(EventMedia.event_pk.in_(events))
            ).all()
            hashes = {sha256 for _, sha256 in references}
            session.execute(sa.delete(EventMedia).where(EventMedia.id.in_([pk for pk, _ in references])))
            session.execute(sa.delete(Event).where(Event.id.in_(events)))
            still_used = session.scalars(sa.select(EventMedia.sha256).where(EventMedia.sha256.in_(hashes)))
            unused = sorted(hashes - set(still_used))
            for sha256 in unused:
                self._media.delete(sha256)
            media = list(session.scalars(sa.select(MediaObject.sha256).where(MediaObject.sha256.in_(unused))))
            session.execute(sa.delete(MediaObject).where(MediaObject.sha256.in_(media)))
            return PurgeReport(len(events), len(references), len(media))

    def _count(self, cutoff: datetime) -> PurgeReport:
        """What a purge would remove now; media counts the files no unexpired event shares."""
        expired = _expired_events(cutoff).subquery()
        references = (
            sa.select(EventMedia.sha256).join(expired, expired.c.id == EventMedia.event_pk).subquery()
        )
        with self._sessions() as session:
            events = session.scalar(sa.select(sa.func.count()).select_from(expired)) or 0
            refs = session.scalar(sa.select(sa.func.count()).select_from(references)) or 0
            media = session.scalar(
                sa.select(sa.func.count(sa.distinct(references.c.sha256))).where(
                    ~sa.exists(_kept_references(cutoff).where(EventMedia.sha256 == references.c.sha256))
                )
            )
        return PurgeReport(events, refs, media or 0, dry_run=True)


def _expired(cutoff: datetime) -> sa.ColumnElement[bool]:
    return sa.and_(Ticket.status.in_([s.value for s in FINISHED]), Ticket.closed_at < cutoff)


def _expired_events(cutoff: datetime) -> sa.Select[int]:
    """Ids of the events of tickets finished before ``cutoff``."""
    return sa.select(Event.id).join(Ticket, Ticket.id == Event.ticket_id).where(_expired(cutoff))


def _kept_references(cutoff: datetime) -> sa.Select[int]:
    """Media references of events that stay: of unexpired tickets, or of no ticket."""
    return (
        sa.select(EventMedia.id)
        .join(Event, Event.id == EventMedia.event_pk)
        .outerjoin(Ticket, Ticket.id == Event.ticket_id)
        .where(sa.or_(Ticket.id.is_(None), sa.not_(_expired(cutoff))))
    )


class RetentionTask:
    """Runs ``Retention.purge`` every ``interval`` in a worker thread, for as long as the service runs."""

    def __init__(self, retention: Retention, interval: timedelta) -> None:
        self._retention = retention
        self._interval_s = interval.total_seconds()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Call on the event loop (the app's lifespan)."""
        self._task = asyncio.get_running_loop().create_task(self._run(), name="evidence-retention")

    async def stop(self) -> None:
        self._retention.stop()
        if self._task is not None:
            self._task.cancel()
            with suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            try:
                await asyncio.to_thread(self._retention.purge)
            except (sa_exc.SQLAlchemyError, MediaUnavailable, OSError) as err:  # try again next round
                log.warning("evidence purge failed", error=str(err))
            await asyncio.sleep(self._interval_s)


def retention_task(
    sessions: sessionmaker[Session], media: MediaStore, config: RetentionConfig, clock: Clock
) -> RetentionTask | None:
    """The service's periodic purge, or None when evidence is kept forever."""
    if config.evidence_days is None:
        return None
    return RetentionTask(
        Retention(sessions, media, config, clock), timedelta(minutes=config.interval_minutes)
    )
