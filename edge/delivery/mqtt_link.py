"""The edge's one MQTT v5 connection: publishing with acknowledgement callbacks, the last will,
and reconnection that never gives up.

What paho-mqtt 2.x does that this module relies on (read in paho's ``client.py``):

- ``publish(qos=1)`` while disconnected still stores the message (rc ``MQTT_ERR_NO_CONN``)
  and sends it after the next CONNACK; a message that was on the wire when the link
  dropped is resent with DUP set. paho keeps these in memory for the life of the client
  object, whatever the broker's session says, so a caller must never publish the same
  message twice in one process: that would be a duplicate, not a retry. The exception is a
  message acknowledged as ``Ack.unheard``: paho has forgotten it and nobody received it.
- ``on_publish(client, userdata, mid, reason_code, properties)`` fires once, on PUBACK,
  with the broker's reason code; it runs on paho's network thread while paho holds its
  message lock, so callbacks here do little and never call back into paho.
- A PUBACK is not a delivery: MQTT v5 reason 16 (no matching subscribers, which Mosquitto
  sends to v5 clients only) means the broker took the message and dropped it, e.g. after it
  lost its sessions and before the central service subscribed again. Reasons of 128 and up
  are refusals. ``Ack`` tells the three apart.
- The PUBACK can be handled before ``publish()`` has returned its ``mid`` to us, so an
  acknowledgement that arrives first is parked until the publisher registers the mid.
- paho does not honour the broker's Receive Maximum; ``max_inflight`` (paho's own window,
  default 20 like Mosquitto's) keeps the rest queued inside paho. After a reconnect paho
  resends everything it holds at once, DUP set only on those that were on the wire.

RPC requests (``.../devices/{id}/rpc/{method}``) arrive through a small registry of method
handlers (``add_rpc_handler``); the subscription is renewed on every connect, because the
edge's session does not outlive a disconnect. The link only routes: ``edge/commands/rpc.py`` parses,
runs and answers (MQTT v5 response topic and correlation data).
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from enum import Enum
from typing import Any
from urllib.parse import urlsplit

import paho.mqtt.client as mqtt
import structlog
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from contract.status import OFFLINE_WILL, DeviceState, DeviceStatus
from contract.topics import Topics
from edge.config import MqttConfig

log = structlog.get_logger(__name__)


class Ack(Enum):
    """What a PUBACK says about one message."""

    delivered = "delivered"
    """Taken, and matched at least one subscription (queued for it even if its client is offline)."""
    unheard = "unheard"
    """Taken, but no subscription matched (reason 16): nobody will ever receive it."""
    refused = "refused"
    """Not taken (reason 128 and up: not authorised, quota exceeded, ...)."""


NO_MATCHING_SUBSCRIBERS = 16

AckCallback = Callable[[Ack, str], None]
"""Called with (outcome, the broker's reason) when the broker acknowledges a message."""

RpcHandler = Callable[[str, mqtt.MQTTMessage], None]
"""Called on paho's thread with (method, message) for each RPC request; must not block."""

ANY_METHOD = "+"
"""Registers the handler of every method that has none of its own."""

_STORED = (MQTTErrorCode.MQTT_ERR_SUCCESS, MQTTErrorCode.MQTT_ERR_NO_CONN)


class PublishError(RuntimeError):
    """paho refused to take a message at all (its queue is full)."""


class MqttLink:
    """One paho client per process; every publish is QoS 1."""

    def __init__(
        self,
        config: MqttConfig,
        device_id: str,
        *,
        client_id: str | None = None,
        reconnect_max_s: int = 30,
        max_inflight: int = 20,
        max_queued: int = 1000,
    ) -> None:
        self.device_id = device_id
        self.topics = Topics(config.topic_prefix)
        self._config = config
        self._log = log.bind(device=device_id)
        self._lock = threading.Lock()
        self._awaiting: dict[int, AckCallback | None] = {}
        self._early: dict[int, tuple[Ack, str]] = {}
        self._connect_listeners: list[Callable[[], None]] = []
        self._rpc_handlers: dict[str, RpcHandler] = {}
        self._stopping = False
        # A random suffix: two processes of one device (agent and `analyze --publish`)
        # must not take over each other's connection.
        client_id = client_id or f"gridwatch-{device_id}-{secrets.token_hex(3)}"
        self._client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
        self._client.max_inflight_messages = max_inflight
        self._client.max_queued_messages = max_queued
        self._client.reconnect_delay_set(min_delay=1, max_delay=reconnect_max_s)
        self._client.will_set(self.topics.status(device_id), OFFLINE_WILL, qos=1, retain=True)
        if config.username is not None:
            self._client.username_pw_set(config.username, config.password)
        self._client.on_connect = self._on_connect
        self._client.on_connect_fail = self._on_connect_fail
        self._client.on_disconnect = self._on_disconnect
        self._client.on_publish = self._on_publish
        self._client.on_message = self._on_message

    @property
    def connected(self) -> bool:
        return self._client.is_connected()

    def add_connect_listener(self, listener: Callable[[], None]) -> None:
        """Called on paho's thread after every successful (re)connect; must not block."""
        self._connect_listeners.append(listener)

    def add_rpc_handler(self, method: str, handler: RpcHandler) -> None:
        """Route requests on ``.../rpc/{method}`` (or, for ``ANY_METHOD``, every unhandled method) to
        ``handler``; the first handler subscribes, now if connected and again on every connect."""
        first = not self._rpc_handlers
        self._rpc_handlers[method] = handler
        if first and self.connected:
            self._subscribe_rpc()

    def start(self) -> None:
        """Returns at once; connecting (and reconnecting) happens on paho's thread, so the agent
        starts even when the broker is down."""
        url = urlsplit(self._config.url)
        if url.scheme == "mqtts":
            self._client.tls_set()
        port = url.port or (8883 if url.scheme == "mqtts" else 1883)
        self._log.info("mqtt link starting", url=f"{url.scheme}://{url.hostname}:{port}")
        self._client.connect_async(url.hostname or "", port, keepalive=self._config.keepalive_s)
        self._client.loop_start()

    def publish(
        self,
        topic: str,
        payload: bytes | str,
        *,
        retain: bool = False,
        on_ack: AckCallback | None = None,
        properties: Properties | None = None,
    ) -> None:
        """Hand a message to paho (QoS 1); ``on_ack`` fires once the broker acknowledges it,
        however many reconnects that takes."""
        info = self._client.publish(topic, payload, qos=1, retain=retain, properties=properties)
        if info.rc not in _STORED:
            raise PublishError(f"paho did not queue the message for {topic}: {mqtt.error_string(info.rc)}")
        with self._lock:
            early = self._early.pop(info.mid, None)
            if early is None:
                self._awaiting[info.mid] = on_ack
                return
        _fire(on_ack, *early)

    def stop(self, timeout: float = 5.0) -> None:
        """Say "offline" (retained) before a clean disconnect, which suppresses the last will."""
        self._stopping = True
        if self.connected:
            done = threading.Event()
            offline = DeviceStatus(
                state=DeviceState.offline, device_id=self.device_id, sent_at=datetime.now(UTC)
            )
            self.publish(
                self.topics.status(self.device_id),
                offline.to_json(),
                retain=True,
                on_ack=lambda ack, reason: done.set(),
            )
            if not done.wait(timeout):
                self._log.warning("offline status not acknowledged before disconnect", timeout_s=timeout)
        self._client.disconnect()
        self._client.loop_stop()
        self._log.info("mqtt link stopped")

    def _on_publish(
        self, client: mqtt.Client, userdata: Any, mid: int, reason: ReasonCode, properties: Any
    ) -> None:
        ack = _ack_of(reason)
        with self._lock:
            if mid not in self._awaiting:
                self._early[mid] = (ack, str(reason))
                return
            callback = self._awaiting.pop(mid)
        _fire(callback, ack, str(reason))

    def _on_connect(
        self,
        client: mqtt.Client,
        userdata: Any,
        flags: mqtt.ConnectFlags,
        reason: ReasonCode,
        properties: Any,
    ) -> None:
        if reason.is_failure:
            self._log.warning("mqtt connection refused", reason=str(reason))
            return
        self._log.info("mqtt connected", session_present=flags.session_present)
        if self._rpc_handlers:
            self._subscribe_rpc()
        for listener in self._connect_listeners:
            _fire(listener)

    def _subscribe_rpc(self) -> None:
        self._client.subscribe(self.topics.rpc(self.device_id, "+"), qos=1)

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        method = message.topic.removeprefix(self.topics.rpc(self.device_id, ""))
        handler = self._rpc_handlers.get(method) or self._rpc_handlers.get(ANY_METHOD)
        if handler is None or method == message.topic:
            self._log.warning("mqtt message without a handler dropped", topic=message.topic)
            return
        _fire(handler, method, message)

    def _on_connect_fail(self, client: mqtt.Client, userdata: Any) -> None:
        self._log.warning("mqtt broker unreachable; retrying with back-off", url=self._config.url)

    def _on_disconnect(
        self,
        client: mqtt.Client,
        userdata: Any,
        flags: mqtt.DisconnectFlags,
        reason: ReasonCode,
        properties: Any,
    ) -> None:
        if not self._stopping:
            self._log.warning("mqtt disconnected; reconnecting", reason=str(reason))


def _ack_of(reason: ReasonCode) -> Ack:
    if reason.is_failure:
        return Ack.refused
    return Ack.unheard if reason.value == NO_MATCHING_SUBSCRIBERS else Ack.delivered


def _fire(callback: Callable[..., None] | None, *args: Any) -> None:
    """Run a user callback on paho's thread; an exception there would kill the network loop."""
    if callback is None:
        return
    try:
        callback(*args)
    except Exception:
        log.exception("mqtt callback failed", callback=getattr(callback, "__qualname__", repr(callback)))
