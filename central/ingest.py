"""Rows out of messages: events are validated, stored once per ``event_id`` and filed into tickets,
a batch in one transaction; status messages keep the device registry. A bad message is counted and
logged, never fatal, and so is a message about a camera that belongs to another device
(``central.devices``). A message that cannot be filed even on its own is kept as a dead letter
(``central.dead_letters``), so nothing acknowledged lives only in a log line.

``Intake`` knows nothing of MQTT, so tests and the benchmark call it directly; ``central.ingest_mqtt``
feeds it batches from a paho v5 client and acknowledges each message once its batch is committed.
"""

from __future__ import annotations

import threading
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, TypeVar

import sqlalchemy as sa
import structlog
from pydantic import ValidationError
from sqlalchemy import exc as sa_exc
from sqlalchemy.orm import Session, sessionmaker
from tenacity import Retrying, retry_if_exception_type, stop_when_event_set, wait_exponential_jitter

from central import dead_letters
from central.clock import Clock
from central.dead_letters import Letter
from central.devices import Claim, RecordableStatus, Sighting, StaleStatus, claim_cameras, record_status
from central.inserts import insert_events
from central.models import Camera, Ticket
from central.models import Event as EventRow
from central.tickets import Filing, TicketDesk
from contract.event import Event
from contract.status import DeviceStatus
from contract.topics import Topics
from contract.validation import problems_of

log = structlog.get_logger(__name__)

_TRANSIENT = (sa_exc.OperationalError, sa_exc.InterfaceError)
"""Database errors worth waiting out (connection lost, database locked); anything else is a bug."""

_T = TypeVar("_T")


class Outcome(StrEnum):
    stored = "stored"
    duplicate = "duplicate"
    malformed = "malformed"
    stale = "stale"
    refused = "refused"
    """An event for a camera that another device reported first."""
    failed = "failed"
    deferred = "deferred"
    """Not stored because ingest is stopping; left unacknowledged so the broker redelivers it."""


class BadMessage(Exception):
    """A message that can never be stored, whatever we retry."""


@dataclass(frozen=True)
class Message:
    """One message as it came off the broker."""

    topic: str
    payload: bytes


class Intake:
    """Stores messages, events a batch at a time; thread-safe counters let the API report what happened."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        desk: TicketDesk,
        clock: Clock,
        topics: Topics,
        max_payload_bytes: int,
    ) -> None:
        self._sessions = sessions
        self._desk = desk
        self._clock = clock
        self._topics = topics
        self._max_payload = max_payload_bytes
        self._counts: Counter[str] = Counter()
        self._lock = threading.Lock()
        self.stopping = threading.Event()

    def counts(self) -> dict[str, int]:
        with self._lock:
            return dict(self._counts)

    def _count(self, kind: str, outcome: Outcome, times: int = 1) -> Outcome:
        with self._lock:
            self._counts[f"{kind}_{outcome.value}"] += times
        return outcome

    def event(self, topic: str, payload: bytes) -> Outcome:
        return self.events([Message(topic, payload)])[0]

    def events(self, messages: Sequence[Message]) -> list[Outcome]:
        """Each message's outcome, in order: the valid ones stored in one transaction if they can be,
        else one by one, and one that still fails kept as a dead letter."""
        outcomes: list[Outcome] = [Outcome.malformed] * len(messages)
        valid: list[tuple[int, Event]] = []
        for i, message in enumerate(messages):
            try:
                valid.append((i, self._parse_event(message.topic, message.payload)))
            except BadMessage as err:
                log.warning(
                    "malformed event refused",
                    topic=message.topic,
                    bytes=len(message.payload),
                    reason=str(err),
                )
        for (i, _), outcome in zip(valid, self._store_events(messages, valid), strict=True):
            outcomes[i] = outcome
        with self._lock:
            self._counts.update(f"events_{o.value}" for o in outcomes)
        return outcomes

    def status(self, topic: str, payload: bytes) -> Outcome:
        try:
            device_id, status = self._parse_status(topic, payload)
        except BadMessage as err:
            log.warning("malformed status refused", topic=topic, bytes=len(payload), reason=str(err))
            return self._count("status", Outcome.malformed)
        try:
            outcome = self._retrying(
                lambda: self._store_status(device_id, status), topic=topic, device=device_id
            )
        except _TRANSIENT:
            outcome = Outcome.deferred
        except Exception as err:
            outcome = self._dead_letter(Message(topic, payload), device_id, err)
        return self._count("status", outcome)

    def _store_events(self, messages: Sequence[Message], valid: list[tuple[int, Event]]) -> list[Outcome]:
        if not valid:
            return []
        events = [event for _, event in valid]
        try:
            return self._retrying(lambda: self._store_batch(events), topic="(batch)", events=len(events))
        except _TRANSIENT:
            return _stopping(len(events))
        except Exception as err:
            if len(events) == 1:
                return [self._alone_failed(messages[valid[0][0]], events[0], err)]
            log.warning("batch failed; storing its events one by one", events=len(events), error=repr(err))
        return [self._store_alone(messages[i], event) for i, event in valid]

    def _store_alone(self, message: Message, event: Event) -> Outcome:
        try:
            return self._retrying(
                lambda: self._store_batch([event])[0],
                topic=message.topic,
                device=event.device_id,
                camera=event.camera_id,
            )
        except _TRANSIENT:
            return _stopping(1)[0]
        except Exception as err:
            return self._alone_failed(message, event, err)

    def _alone_failed(self, message: Message, event: Event, err: Exception) -> Outcome:
        if isinstance(err, sa_exc.IntegrityError):
            return Outcome.duplicate  # event_id is unique: a redelivery, here or at another replica
        return self._dead_letter(message, event.device_id, err, camera=event.camera_id)

    def _dead_letter(
        self, message: Message, device: str, err: Exception, camera: str | None = None
    ) -> Outcome:
        """Keep a message that cannot be filed; if even that fails, leave it to the broker to redeliver."""
        log.error(
            "message could not be stored; kept as a dead letter",
            topic=message.topic,
            device=device,
            camera=camera,
            error=repr(err),
            exc_info=err,
        )
        letter = Letter(message.topic, device, message.payload, f"{type(err).__name__}: {err}")
        try:
            self._retrying(lambda: self._keep(letter), topic=message.topic, device=device)
        except Exception:
            log.exception(
                "dead letter not kept; the broker will redeliver it", topic=message.topic, device=device
            )
            return Outcome.deferred
        return Outcome.failed

    def _keep(self, letter: Letter) -> None:
        with self._sessions.begin() as session:
            dead_letters.keep(session, letter, self._clock.now())

    def _retrying(self, work: Callable[[], _T], **where: object) -> _T:
        """Run ``work``, waiting out database outages until ingest stops; other errors are raised."""
        retrying = Retrying(
            retry=retry_if_exception_type(_TRANSIENT),
            reraise=True,
            wait=wait_exponential_jitter(multiplier=0.2, max=30),
            stop=stop_when_event_set(self.stopping),
            before_sleep=lambda state: log.warning(
                "database unavailable, retrying",
                attempt=state.attempt_number,
                error=str(state.outcome and state.outcome.exception()),
                **where,
            ),
        )
        return retrying(work)

    def _parse_event(self, topic: str, payload: bytes) -> Event:
        device_id = self._device_of(topic, payload)
        try:
            event = Event.model_validate_json(payload)
        except ValidationError as err:
            raise BadMessage(_describe(err)) from err
        if event.device_id != device_id:
            raise BadMessage(f"device_id {event.device_id!r} does not match the topic's device {device_id!r}")
        return event

    def _parse_status(self, topic: str, payload: bytes) -> tuple[str, DeviceStatus]:
        device_id = self._device_of(topic, payload)
        try:
            status = DeviceStatus.model_validate_json(payload)
            RecordableStatus.model_validate(status.model_dump())
        except ValidationError as err:
            raise BadMessage(_describe(err)) from err
        if status.device_id is not None and status.device_id != device_id:
            raise BadMessage(
                f"device_id {status.device_id!r} does not match the topic's device {device_id!r}"
            )
        return device_id, status

    def _device_of(self, topic: str, payload: bytes) -> str:
        if len(payload) > self._max_payload:
            raise BadMessage(f"{len(payload)} bytes, above the {self._max_payload}-byte limit")
        device_id = self._topics.device_of(topic)
        if device_id is None:
            raise BadMessage(f"topic is not under {self._topics.prefix}/devices/")
        return device_id

    def _store_batch(self, events: list[Event]) -> list[Outcome]:
        """One transaction: the new events' rows, their media references and the tickets they join.

        Repeats (stored before, or earlier in the batch) are duplicates, left out before anything is
        written; an event for another device's camera is refused.
        """
        now = self._clock.now()
        with self._sessions.begin() as session:
            known = set(
                session.scalars(
                    sa.select(EventRow.event_id).where(EventRow.event_id.in_({e.event_id for e in events}))
                )
            )
            fresh: dict[uuid.UUID, Event] = {}
            for event in events:
                if event.event_id not in known:
                    fresh.setdefault(event.event_id, event)
            claims = [Claim(e.device_id, e.camera_id, Sighting.of_details(e.details)) for e in fresh.values()]
            cameras = claim_cameras(session, claims, now)
            new = [_NewEvent.of(e, now) for e in fresh.values() if _owns(e, cameras[e.camera_id])]
            tickets = self._desk.file(session, [Filing(n, cameras[n.camera_id]) for n in new], now)
            insert_events(session, [n.row() for n in new], [n.media for n in new])
        filed = {n.event_id: t for n, t in zip(new, tickets, strict=True)}
        return [_outcome(e, fresh, filed) for e in events]

    def _store_status(self, device_id: str, status: DeviceStatus) -> Outcome:
        try:
            with self._sessions.begin() as session:
                refused = record_status(session, device_id, status, self._clock.now())
        except StaleStatus:
            return Outcome.stale
        except sa_exc.IntegrityError:
            with self._sessions.begin() as session:  # a replica inserted the device first: update it
                refused = record_status(session, device_id, status, self._clock.now())
        if refused:
            self._count("cameras", Outcome.refused, len(refused))
        return Outcome.stored


def _stopping(count: int) -> list[Outcome]:
    log.warning("ingest stopping with messages unstored; the broker will redeliver them", messages=count)
    return [Outcome.deferred] * count


def _owns(event: Event, camera: Camera) -> bool:
    if camera.device_id == event.device_id:
        return True
    log.warning(
        "event refused: the camera belongs to another device",
        device=event.device_id,
        camera=event.camera_id,
        owner=camera.device_id,
        event_id=str(event.event_id),
    )
    return False


def _outcome(event: Event, fresh: dict[uuid.UUID, Event], filed: dict[uuid.UUID, Ticket | None]) -> Outcome:
    if fresh.get(event.event_id) is not event:
        return Outcome.duplicate
    if event.event_id not in filed:
        return Outcome.refused
    ticket = filed[event.event_id]
    log.debug(
        "event stored",
        event_id=str(event.event_id),
        device=event.device_id,
        camera=event.camera_id,
        phase=event.phase.value,
        ticket=ticket.id if ticket else None,
    )
    return Outcome.stored


def _describe(err: ValidationError) -> str:
    problems = problems_of(err)
    text = "; ".join(f"{place}: {reason}" for place, reason in problems[:3])
    more = f" (+{len(problems) - 3} more)" if len(problems) > 3 else ""
    return text[:500] + more


@dataclass(slots=True)
class _NewEvent:
    """An event on its way into the table: what the desk files (``central.merging.Filable``), then inserts."""

    event_id: uuid.UUID
    phase: str
    type: str
    device_id: str
    camera_id: str
    zone_id: str
    episode_id: str | None
    started_at: datetime
    observed_at: datetime
    details: dict[str, Any]
    values: dict[str, Any]
    media: list[dict[str, Any]]
    ticket_id: int | None = None

    @classmethod
    def of(cls, event: Event, now: datetime) -> _NewEvent:
        episode = event.details.episode_id
        return cls(
            event_id=event.event_id,
            phase=event.phase.value,
            type=event.type.value,
            device_id=event.device_id,
            camera_id=event.camera_id,
            zone_id=event.zone_id,
            episode_id=episode[:64] if episode else None,
            started_at=event.started_at,
            observed_at=event.observed_at,
            details=event.details_json(),
            values={"ended_at": event.ended_at, "received_at": now, "confidence": event.confidence},
            media=[
                {
                    "sha256": m.sha256,
                    "kind": m.kind.value,
                    "content_type": m.content_type,
                    "bytes": m.bytes,
                    "label": m.label,
                }
                for m in event.media
            ],
        )

    def row(self) -> dict[str, Any]:
        """The events table's columns."""
        return {
            "event_id": self.event_id,
            "ticket_id": self.ticket_id,
            "phase": self.phase,
            "type": self.type,
            "device_id": self.device_id,
            "camera_id": self.camera_id,
            "zone_id": self.zone_id,
            "episode_id": self.episode_id,
            "started_at": self.started_at,
            "observed_at": self.observed_at,
            "details": self.details,
            **self.values,
        }
