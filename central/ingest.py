"""MQTT in, rows out: events are validated, stored once per ``event_id`` and filed into tickets;
status messages keep the device registry. A bad message is counted and logged, never fatal, and so
is a message about a camera that belongs to another device (``central.devices``).

``Intake`` does the work for one message and knows nothing of MQTT, so tests and the benchmark
call it directly; ``MqttIngest`` wires it to a paho v5 client with a persistent session and a
shared subscription, acknowledging each event only once it is committed (or refused for good).
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from datetime import datetime
from enum import StrEnum
from urllib.parse import urlsplit

import paho.mqtt.client as mqtt
import structlog
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from paho.mqtt.subscribeoptions import SubscribeOptions
from pydantic import ValidationError
from sqlalchemy import exc as sa_exc
from sqlalchemy.orm import Session, sessionmaker
from tenacity import Retrying, retry_if_exception_type, stop_when_event_set, wait_exponential_jitter

from central.clock import Clock
from central.config import MqttConfig
from central.devices import RecordableStatus, Sighting, StaleStatus, claim_camera, record_status
from central.models import Event as EventRow
from central.models import EventMedia
from central.tickets import TicketDesk
from contract.event import Event
from contract.status import DeviceStatus
from contract.topics import Topics
from contract.validation import problems_of

log = structlog.get_logger(__name__)

_TRANSIENT = (sa_exc.OperationalError, sa_exc.InterfaceError)
"""Database errors worth waiting out (connection lost, database locked); anything else is a bug."""


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


class Intake:
    """Handles one message at a time; thread-safe counters let the API report what happened."""

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
        try:
            event = self._parse_event(topic, payload)
        except BadMessage as err:
            log.warning("malformed event refused", topic=topic, bytes=len(payload), reason=str(err))
            return self._count("events", Outcome.malformed)
        outcome = self._guarded(lambda: self._store_event(event), topic, event.device_id, event.camera_id)
        return self._count("events", outcome)

    def status(self, topic: str, payload: bytes) -> Outcome:
        try:
            device_id, status = self._parse_status(topic, payload)
        except BadMessage as err:
            log.warning("malformed status refused", topic=topic, bytes=len(payload), reason=str(err))
            return self._count("status", Outcome.malformed)
        outcome = self._guarded(lambda: self._store_status(device_id, status), topic, device_id, None)
        return self._count("status", outcome)

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

    def _guarded(self, work: Callable[[], Outcome], topic: str, device: str, camera: str | None) -> Outcome:
        """Run one store, waiting out database outages; any other error is logged and counted."""
        retrying = Retrying(
            retry=retry_if_exception_type(_TRANSIENT),
            reraise=True,
            wait=wait_exponential_jitter(multiplier=0.2, max=30),
            stop=stop_when_event_set(self.stopping),
            before_sleep=lambda state: log.warning(
                "database unavailable, retrying",
                topic=topic,
                device=device,
                camera=camera,
                attempt=state.attempt_number,
                error=str(state.outcome and state.outcome.exception()),
            ),
        )
        try:
            return retrying(work)
        except _TRANSIENT:
            log.warning("ingest stopping with a message unstored; the broker will redeliver it", topic=topic)
            return Outcome.deferred
        except Exception:
            log.exception("message could not be stored", topic=topic, device=device, camera=camera)
            return Outcome.failed

    def _store_event(self, event: Event) -> Outcome:
        now = self._clock.now()
        try:
            with self._sessions.begin() as session:
                camera = claim_camera(
                    session, event.device_id, event.camera_id, Sighting.of_details(event.details), now
                )
                if camera.device_id != event.device_id:
                    log.warning(
                        "event refused: the camera belongs to another device",
                        device=event.device_id,
                        camera=event.camera_id,
                        owner=camera.device_id,
                        event_id=str(event.event_id),
                    )
                    return Outcome.refused
                row = _event_row(event, now)
                session.add(row)
                session.flush()
                ticket = self._desk.file(session, row, camera, now)
        except sa_exc.IntegrityError:
            return Outcome.duplicate  # event_id is unique: a redelivery, here or at another replica
        log.debug(
            "event stored",
            event_id=str(event.event_id),
            device=event.device_id,
            camera=event.camera_id,
            phase=event.phase.value,
            ticket=ticket.id if ticket else None,
        )
        return Outcome.stored

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


def _describe(err: ValidationError) -> str:
    problems = problems_of(err)
    text = "; ".join(f"{place}: {reason}" for place, reason in problems[:3])
    more = f" (+{len(problems) - 3} more)" if len(problems) > 3 else ""
    return text[:500] + more


def _event_row(event: Event, now: datetime) -> EventRow:
    episode = event.details.episode_id
    return EventRow(
        event_id=event.event_id,
        phase=event.phase.value,
        type=event.type.value,
        device_id=event.device_id,
        camera_id=event.camera_id,
        zone_id=event.zone_id,
        episode_id=episode[:64] if episode else None,
        started_at=event.started_at,
        observed_at=event.observed_at,
        ended_at=event.ended_at,
        received_at=now,
        confidence=event.confidence,
        details=event.details_json(),
        media=[
            EventMedia(
                sha256=m.sha256, kind=m.kind.value, content_type=m.content_type, bytes=m.bytes, label=m.label
            )
            for m in event.media
        ],
    )


class MqttIngest:
    """The paho v5 client: a persistent session, a shared subscription for events, and status."""

    def __init__(self, config: MqttConfig, intake: Intake) -> None:
        self._config = config
        self._intake = intake
        self._topics = Topics(config.topic_prefix)
        self._subscribed = threading.Event()
        self._client = self._make_client()

    @property
    def intake(self) -> Intake:
        return self._intake

    def _make_client(self) -> mqtt.Client:
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=self._config.client_id,
            protocol=mqtt.MQTTv5,
            manual_ack=True,
        )
        client.suppress_exceptions = True
        if urlsplit(self._config.url).scheme == "mqtts":
            client.tls_set()
        if self._config.username:
            client.username_pw_set(self._config.username, self._config.password)
        client.reconnect_delay_set(min_delay=1, max_delay=30)
        client.on_connect = self._on_connect
        client.on_subscribe = self._on_subscribe
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        return client

    def start(self) -> None:
        self._intake.stopping.clear()
        url = urlsplit(self._config.url)
        port = url.port or (8883 if url.scheme == "mqtts" else 1883)
        properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]  # paho has no hints here
        properties.SessionExpiryInterval = self._config.session_expiry_s
        self._client.connect_async(
            url.hostname or "127.0.0.1",
            port,
            keepalive=self._config.keepalive_s,
            clean_start=False,
            properties=properties,
        )
        self._client.loop_start()
        log.info(
            "ingest starting",
            broker=self._config.url,
            client_id=self._config.client_id,
            events=self._topics.shared_events(self._config.group),
        )

    def wait_subscribed(self, timeout: float) -> bool:
        """True once the broker has confirmed the subscriptions (tests publish only after that)."""
        return self._subscribed.wait(timeout)

    def stop(self) -> None:
        self._intake.stopping.set()
        self._client.disconnect()
        self._client.loop_stop()
        log.info("ingest stopped", counts=self._intake.counts())

    def _on_connect(
        self,
        client: mqtt.Client,
        _userdata: object,
        flags: mqtt.ConnectFlags,
        reason: ReasonCode,
        _props: Properties | None,
    ) -> None:
        if reason.is_failure:
            log.error("broker refused the connection", broker=self._config.url, reason=str(reason))
            return
        log.info("connected to broker", broker=self._config.url, session_present=flags.session_present)
        client.subscribe(
            [
                (self._topics.shared_events(self._config.group), SubscribeOptions(qos=1)),
                (self._topics.all_status(), SubscribeOptions(qos=1)),
            ]
        )

    def _on_subscribe(
        self,
        _client: mqtt.Client,
        _userdata: object,
        _mid: int,
        reasons: list[ReasonCode],
        _props: Properties | None,
    ) -> None:
        failed = [str(r) for r in reasons if r.is_failure]
        if failed:
            log.error("broker refused a subscription", reasons=failed)
            return
        self._subscribed.set()

    def _on_disconnect(
        self,
        _client: mqtt.Client,
        _userdata: object,
        _flags: mqtt.DisconnectFlags,
        reason: ReasonCode,
        _props: Properties | None,
    ) -> None:
        self._subscribed.clear()
        if not self._intake.stopping.is_set():
            log.warning("disconnected from broker; reconnecting", broker=self._config.url, reason=str(reason))

    def _on_message(self, client: mqtt.Client, _userdata: object, message: mqtt.MQTTMessage) -> None:
        topic = message.topic
        handle = self._intake.status if topic.endswith("/status") else self._intake.event
        outcome = handle(topic, bytes(message.payload))
        if outcome is not Outcome.deferred and message.qos > 0:
            client.ack(message.mid, message.qos)
