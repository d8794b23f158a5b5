"""The edge's RPC server: requests from the central service over MQTT v5, answered on their
response topic with their correlation data (the wire format is in ``contract/rpc.py``).

Requests arrive on paho's network thread, which must never wait, so each one is parsed there
and then run as a coroutine on an asyncio loop of its own thread (``LoopThread``; live view's
WebRTC peers live on the same loop). A bad request, a failing handler or one that runs past
its time gets an error answer; none of them can touch the MQTT link. Answers go only to this
device's own reply topics (``Topics.replies``): a request naming any other response topic is
dropped, so no request can make the edge publish where it does not belong.

A handler is registered for a ``Method`` of ``contract/rpc.py`` and gets its request already
parsed as the method's request model: an unknown method or a body that does not fit is answered
here, with the contract's message naming the method and each wrong field.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Awaitable, Callable, Coroutine
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import paho.mqtt.client as mqtt
import structlog
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from pydantic import BaseModel

from contract.rpc import ErrorCode, Method, RpcContractError, RpcFailure, UnknownMethod
from edge.delivery.mqtt_link import ANY_METHOD, MqttLink

log = structlog.get_logger(__name__)

T = TypeVar("T")
RequestT = TypeVar("RequestT", bound=BaseModel)
AnswerT = TypeVar("AnswerT", bound=BaseModel)


class RpcError(Exception):
    """A request refused with a reason for a person (``message``) and for a program (``code``)."""

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class LoopThread:
    """An asyncio event loop running in a daemon thread, for code that lives on paho's or the
    cameras' threads to hand coroutines to."""

    def __init__(self, name: str) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def submit(self, coroutine: Coroutine[Any, Any, T]) -> Future[T]:
        """Schedule ``coroutine`` on the loop from any thread."""
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop)

    def call(self, coroutine: Coroutine[Any, Any, T], timeout: float) -> T:
        """Run ``coroutine`` on the loop and wait for its result (never from the loop itself)."""
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def stop(self, timeout: float = 5.0) -> None:
        if self._thread.is_alive():
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(timeout)
        if not self._thread.is_alive() and not self.loop.is_closed():
            self.loop.close()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()


class RpcServer:
    """Routes ``.../rpc/{method}`` requests to async handlers and publishes their answers.

    ``timeout_s`` is below the central's default wait (10 s), so a slow handler's caller hears
    "timeout" from the edge rather than guessing that the edge is offline."""

    def __init__(self, link: MqttLink, loop: LoopThread, *, timeout_s: float = 8.0) -> None:
        self._link = link
        self._loop = loop
        self._timeout_s = timeout_s
        self._routes: dict[str, _Route[Any, Any]] = {}
        link.add_rpc_handler(ANY_METHOD, self._on_request)

    def handle(
        self, method: Method[RequestT, AnswerT], handler: Callable[[RequestT], Awaitable[AnswerT]]
    ) -> None:
        """Answer ``method`` with ``handler``, which raises RpcError to refuse a request."""
        self._routes[method.name] = _Route(method, handler)

    def _on_request(self, method: str, message: mqtt.MQTTMessage) -> None:
        """On paho's thread: check the envelope, then hand the work to the loop."""
        properties = message.properties
        reply_to = getattr(properties, "ResponseTopic", None)
        correlation = getattr(properties, "CorrelationData", None)
        if not reply_to:
            log.warning("rpc request without a response topic dropped", method=method, topic=message.topic)
            return
        if not self._link.topics.is_reply_of(reply_to, self._link.device_id):
            log.warning(
                "rpc request with a response topic outside this device's replies dropped",
                device=self._link.device_id,
                method=method,
                response_topic=reply_to,
            )
            return
        reply = _Reply(self._link, reply_to, correlation, method)
        try:
            route = self._route(method)
            request = route.method.request_of(_json_object(method, message.payload))
        except RpcContractError as err:
            reply.send(_failure(err.code, err.message))
            return
        self._loop.submit(self._run(route, request, reply))

    def _route(self, method: str) -> _Route[Any, Any]:
        try:
            return self._routes[method]
        except KeyError:
            raise UnknownMethod.among(method, self._routes) from None

    async def _run(self, route: _Route[Any, Any], request: BaseModel, reply: _Reply) -> None:
        try:
            answer = await asyncio.wait_for(route.handler(request), self._timeout_s)
            body = json.dumps({**answer.model_dump(mode="json"), "ok": True})
        except RpcError as err:
            body = _failure(err.code, err.message)
        except TimeoutError:
            log.warning("rpc handler timed out", method=reply.method, timeout_s=self._timeout_s)
            body = _failure(ErrorCode.timeout, f"'{reply.method}' took longer than {self._timeout_s:g} s")
        except Exception as err:
            log.exception("rpc handler failed", method=reply.method)
            body = _failure(ErrorCode.internal, f"'{reply.method}' failed on the edge: {err!r}")
        reply.send(body)


@dataclass(frozen=True)
class _Route(Generic[RequestT, AnswerT]):
    method: Method[RequestT, AnswerT]
    handler: Callable[[RequestT], Awaitable[AnswerT]]


def _json_object(method: str, payload: bytes | bytearray) -> dict[str, Any]:
    """The request body, which must be a JSON object before its method's model is asked."""
    try:
        params = json.loads(payload)
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise RpcContractError(method, ErrorCode.bad_request, f"the request body is not JSON: {err}") from err
    if not isinstance(params, dict):
        raise RpcContractError(
            method,
            ErrorCode.bad_request,
            f"the request body must be a JSON object, not {type(params).__name__}",
        )
    return params


class _Reply:
    def __init__(self, link: MqttLink, topic: str, correlation: bytes | None, method: str) -> None:
        self._link = link
        self._topic = topic
        self._correlation = correlation
        self.method = method

    def send(self, body: str) -> None:
        properties = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]  # paho has no hints here
        if self._correlation is not None:
            properties.CorrelationData = self._correlation
        try:
            self._link.publish(self._topic, body, properties=properties)
        except Exception:
            log.exception("rpc answer could not be sent", method=self.method, topic=self._topic)


def _failure(code: ErrorCode, message: str) -> str:
    if code is not ErrorCode.internal:
        log.info("rpc request refused", code=code.value, error=message)
    return RpcFailure(error=message, code=code).model_dump_json()
