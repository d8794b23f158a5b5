"""Requests to edge devices over MQTT v5, with their answers (the format is in ``contract/rpc.py``).

Each central process has its own paho client, with a random client id, and a random reply token:
a request to a device carries ``{prefix}/devices/{device}/replies/{token}`` as its ResponseTopic
(inside the device's own tree, the only place the broker's ACL lets a device answer) and the
process subscribes to ``{prefix}/devices/+/replies/{token}``, so replicas behind a load balancer
never see each other's answers and nothing in a request names the central's client ids. A
request also carries a random CorrelationData and expires on the broker when its caller stops
waiting; an answer that comes too late, or from another device than the one asked, is dropped.

``call`` takes a ``Method`` of ``contract/rpc.py`` and its request model and returns the method's
answer model; an answer that does not fit is ``MalformedBody`` naming the method and each wrong
field, and a method the device does not serve is ``UnknownMethod``.
"""

from __future__ import annotations

import asyncio
import json
import math
import secrets
import threading
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlsplit

import paho.mqtt.client as mqtt
import structlog
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from paho.mqtt.subscribeoptions import SubscribeOptions
from pydantic import BaseModel

from central.config import MqttConfig
from contract.rpc import ErrorCode, MalformedBody, Method, Problem, UnknownMethod
from contract.topics import Topics

log = structlog.get_logger(__name__)

RequestT = TypeVar("RequestT", bound=BaseModel)
AnswerT = TypeVar("AnswerT", bound=BaseModel)

READY_WAIT_S = 3.0
"""How long a request waits for the client to (re)connect before saying the broker is unreachable."""


class RpcUnavailable(Exception):
    """The central service is not connected to the broker, so it cannot ask anyone anything."""


class RpcTimeout(Exception):
    """The device did not answer in time: it is offline, or too busy to answer."""


class RpcFailed(Exception):
    """The device answered with an error."""

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class RpcClient:
    def __init__(self, config: MqttConfig, timeout_s: float) -> None:
        self._config = config
        self._timeout_s = timeout_s
        self._topics = Topics(config.topic_prefix)
        self._token = secrets.token_hex(16)
        self.replies = self._topics.all_replies(self._token)
        self._ready = threading.Event()
        self._lock = threading.Lock()
        self._pending: dict[bytes, _Pending] = {}
        client_id = f"{config.client_id}-rpc-{secrets.token_hex(8)}"
        self._client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
        self._client.suppress_exceptions = True
        if urlsplit(config.url).scheme == "mqtts":
            self._client.tls_set()
        if config.username:
            self._client.username_pw_set(config.username, config.password)
        self._client.reconnect_delay_set(min_delay=1, max_delay=30)
        self._client.on_connect = self._on_connect
        self._client.on_subscribe = self._on_subscribe
        self._client.on_disconnect = self._on_disconnect
        self._client.on_message = self._on_message

    def start(self) -> None:
        url = urlsplit(self._config.url)
        port = url.port or (8883 if url.scheme == "mqtts" else 1883)
        self._client.connect_async(url.hostname or "127.0.0.1", port, keepalive=self._config.keepalive_s)
        self._client.loop_start()
        log.info("rpc client starting", broker=self._config.url, replies=self.replies)

    def stop(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()
        with self._lock:
            pending, self._pending = self._pending, {}
        for waiting in pending.values():
            waiting.settle(RpcUnavailable("the central service is stopping"))

    def wait_ready(self, timeout: float) -> bool:
        return self._ready.wait(timeout)

    async def call(
        self,
        device_id: str,
        method: Method[RequestT, AnswerT],
        body: RequestT,
        timeout_s: float | None = None,
    ) -> AnswerT:
        """The device's answer; RpcFailed or UnknownMethod for its refusals, MalformedBody for an
        answer that does not fit the method, RpcTimeout, RpcUnavailable."""
        answer = await self._ask(device_id, method.name, body, timeout_s)
        if answer.get("ok") is True:
            return method.answer_of(answer)
        failure = method.failure_of(answer)
        if failure.code is ErrorCode.unknown_method:
            raise UnknownMethod(method.name, failure.error)
        raise RpcFailed(failure.code, failure.error)

    async def _ask(
        self, device_id: str, method: str, body: BaseModel, timeout_s: float | None
    ) -> dict[str, Any]:
        """The device's answer as it came: a JSON object, ``ok`` true or not."""
        timeout = timeout_s or self._timeout_s
        if not self._ready.is_set() and not await asyncio.to_thread(self._ready.wait, READY_WAIT_S):
            raise RpcUnavailable(
                f"the central service is not connected to the MQTT broker ({self._config.url})"
            )
        loop = asyncio.get_running_loop()
        future: asyncio.Future[dict[str, Any]] = loop.create_future()
        correlation = secrets.token_bytes(16)
        properties = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]  # paho has no hints here
        properties.ResponseTopic = self._topics.replies(device_id, self._token)
        properties.CorrelationData = correlation
        properties.MessageExpiryInterval = math.ceil(timeout)
        with self._lock:
            self._pending[correlation] = _Pending(device_id, method, loop, future)
        try:
            self._client.publish(
                self._topics.rpc(device_id, method), body.model_dump_json(), qos=1, properties=properties
            )
            answer = await asyncio.wait_for(future, timeout)
        except TimeoutError:
            raise RpcTimeout(
                f"device '{device_id}' did not answer '{method}' within {timeout:g} s; "
                "it is offline or unreachable"
            ) from None
        finally:
            with self._lock:
                self._pending.pop(correlation, None)
        return answer

    def _on_connect(
        self,
        client: mqtt.Client,
        _userdata: object,
        _flags: mqtt.ConnectFlags,
        reason: ReasonCode,
        _props: Properties | None,
    ) -> None:
        if reason.is_failure:
            log.error("broker refused the rpc client", broker=self._config.url, reason=str(reason))
            return
        client.subscribe([(self.replies, SubscribeOptions(qos=1))])

    def _on_subscribe(
        self,
        _client: mqtt.Client,
        _userdata: object,
        _mid: int,
        reasons: list[ReasonCode],
        _props: Properties | None,
    ) -> None:
        if any(r.is_failure for r in reasons):
            log.error("broker refused the rpc reply subscription", topic=self.replies)
            return
        self._ready.set()

    def _on_disconnect(
        self,
        _client: mqtt.Client,
        _userdata: object,
        _flags: mqtt.DisconnectFlags,
        reason: ReasonCode,
        _props: Properties | None,
    ) -> None:
        self._ready.clear()

    def _on_message(self, _client: mqtt.Client, _userdata: object, message: mqtt.MQTTMessage) -> None:
        correlation = getattr(message.properties, "CorrelationData", None)
        device = self._topics.device_of(message.topic)
        with self._lock:
            waiting = self._pending.get(correlation) if isinstance(correlation, bytes) else None
        if waiting is None:
            log.info("rpc answer nobody waits for dropped (too late?)", device=device, topic=message.topic)
            return
        if device != waiting.device:
            log.warning(
                "rpc answer from another device than the one asked dropped",
                device=device,
                asked=waiting.device,
            )
            return
        waiting.settle(_json_object(waiting.method, message.payload))


def _json_object(method: str, payload: bytes | bytearray) -> dict[str, Any] | MalformedBody:
    """The answer's JSON object, or why it is none (handed to the caller, who raises it)."""
    try:
        answer = json.loads(payload)
    except ValueError as err:
        return MalformedBody(method, "answer", [Problem("body", f"not JSON ({err})")])
    if not isinstance(answer, dict):
        return MalformedBody(
            method, "answer", [Problem("body", f"a JSON {type(answer).__name__}, not an object")]
        )
    return answer


@dataclass(frozen=True)
class _Pending:
    """A request waiting for its answer: the device and method asked, and where the caller awaits the result."""

    device: str
    method: str
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[dict[str, Any]]

    def settle(self, result: dict[str, Any] | Exception) -> None:
        """From any thread: hand ``result`` to the caller's loop."""
        self.loop.call_soon_threadsafe(_settle, self.future, result)


def _settle(future: asyncio.Future[dict[str, Any]], result: dict[str, Any] | Exception) -> None:
    if future.done():
        return
    if isinstance(result, Exception):
        future.set_exception(result)
    else:
        future.set_result(result)
