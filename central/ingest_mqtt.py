"""The broker side of ingest: a paho v5 client with a persistent session, a shared subscription for
events, and a worker that stores them in batches.

paho's network thread only queues each event; the worker takes up to ``mqtt.batch_size`` of them,
waiting at most ``mqtt.batch_wait_ms`` after the first, hands them to ``Intake.events`` (one
transaction) and only then acknowledges each one (manual acknowledgement), so the broker redelivers
whatever a crash, a stop or a database outage left unstored. The client asks the broker (CONNECT's
Receive Maximum) for twice a batch unacknowledged at once, which is also the queue's bound, so one
batch fills while the one before is stored. Status messages are few: they are stored and
acknowledged on the network thread, one at a time, as they come.
"""

from __future__ import annotations

import queue
import threading
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

import paho.mqtt.client as mqtt
import structlog
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from paho.mqtt.subscribeoptions import SubscribeOptions

from central.config import MqttConfig
from central.ingest import Intake, Message, Outcome
from contract.topics import Topics

log = structlog.get_logger(__name__)

_RECEIVE_MAXIMUM = 65535
"""MQTT's largest Receive Maximum."""


@dataclass(frozen=True)
class _Pending:
    """An event received and not yet acknowledged; ``connection`` tells acks for an old one apart."""

    message: Message
    mid: int
    qos: int
    connection: int


class MqttIngest:
    """The paho v5 client and the batch worker; see the module docstring."""

    def __init__(self, config: MqttConfig, intake: Intake) -> None:
        self._config = config
        self._intake = intake
        self._topics = Topics(config.topic_prefix)
        self._subscribed = threading.Event()
        self._window = min(_RECEIVE_MAXIMUM, 2 * config.batch_size)
        self._pending: queue.Queue[_Pending] = queue.Queue(maxsize=self._window)
        self._accepting = threading.Event()
        self._closing = threading.Event()
        self._connection = 0
        self._worker: threading.Thread | None = None
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
        self._closing.clear()
        self._accepting.set()
        self._worker = threading.Thread(target=self._store_batches, name="ingest-batches", daemon=True)
        self._worker.start()
        url = urlsplit(self._config.url)
        port = url.port or (8883 if url.scheme == "mqtts" else 1883)
        properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]  # paho has no hints here
        properties.SessionExpiryInterval = self._config.session_expiry_s
        properties.ReceiveMaximum = self._window
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
            batch_size=self._config.batch_size,
            batch_wait_ms=self._config.batch_wait_ms,
        )

    def wait_subscribed(self, timeout: float) -> bool:
        """True once the broker has confirmed the subscriptions (tests publish only after that)."""
        return self._subscribed.wait(timeout)

    def stop(self) -> None:
        """Store what is queued (unless the database is down), acknowledge it, then disconnect; events
        arriving meanwhile stay unacknowledged for the broker to redeliver."""
        self._accepting.clear()
        self._intake.stopping.set()
        self._closing.set()
        if self._worker is not None:
            self._worker.join()
        self._client.disconnect()
        self._client.loop_stop()
        log.info("ingest stopped", counts=self._intake.counts())

    def _store_batches(self) -> None:
        while not (self._closing.is_set() and self._pending.empty()):
            self._store(self._next_batch())

    def _next_batch(self) -> list[_Pending]:
        """Up to a batch of events: the first within a moment (empty if none came), the rest within
        ``batch_wait_ms`` of it."""
        try:
            batch = [self._pending.get(timeout=0.2)]
        except queue.Empty:
            return []
        deadline = time.monotonic() + self._config.batch_wait_ms / 1000
        while len(batch) < self._config.batch_size:
            try:
                batch.append(self._pending.get(timeout=max(0.0, deadline - time.monotonic())))
            except queue.Empty:
                break
        return batch

    def _store(self, batch: list[_Pending]) -> None:
        if not batch:
            return
        outcomes = self._intake.events([p.message for p in batch])
        for pending, outcome in zip(batch, outcomes, strict=True):
            if outcome is not Outcome.deferred:
                self._ack(pending)

    def _ack(self, pending: _Pending) -> None:
        """An ack on a later connection could name another message: the broker redelivers those instead."""
        if pending.qos > 0 and pending.connection == self._connection:
            self._client.ack(pending.mid, pending.qos)

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
        self._connection += 1
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
        received = Message(message.topic, bytes(message.payload))
        if received.topic.endswith("/status"):
            if self._intake.status(received.topic, received.payload) is not Outcome.deferred and message.qos:
                client.ack(message.mid, message.qos)
            return
        pending = _Pending(received, message.mid, message.qos, self._connection)
        while self._accepting.is_set():
            try:
                self._pending.put(pending, timeout=0.1)
                return
            except queue.Full:
                continue
