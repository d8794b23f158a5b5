"""RPC over MQTT v5 through a real Mosquitto: the edge's server (on its MqttLink) and the central's client,
both taking the same typed ``Method`` objects.

Every test uses its own topic prefix on the machine's broker, or its own broker where it restarts one.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from pydantic import BaseModel, ConfigDict

from central.config import MqttConfig as CentralMqtt
from central.rpc import RpcClient, RpcFailed, RpcTimeout, RpcUnavailable
from contract.rpc import (
    ErrorCode,
    MalformedBody,
    Method,
    SnapshotRequest,
    UnknownMethod,
    WebrtcAnswer,
)
from contract.topics import Topics
from edge.commands.rpc import LoopThread, RpcError, RpcServer
from edge.config import MqttConfig as EdgeMqtt
from edge.delivery.mqtt_link import MqttLink
from tests.support.broker import Broker

DEVICE = "rpc-box"
AnswerT = TypeVar("AnswerT", bound=BaseModel)


class Echo(BaseModel):
    echoed: dict[str, Any]


class Body(BaseModel):
    """Any JSON object: the echo methods send back whatever they were sent."""

    model_config = ConfigDict(extra="allow")
    value: object = None


ECHO = Method("echo", Body, Echo)
REFUSE = Method("refuse", Body, Echo)
CRASH = Method("crash", Body, Echo)
HANG = Method("hang", Body, Echo)
STRICT = Method("strict", SnapshotRequest, Echo)
"""A method whose request has a model with rules, for requests that are JSON but do not fit."""
REBOOT = Method("reboot", Body, Echo)
"""Not served by the edge."""
ECHO_AS_OFFER = Method("echo", Body, WebrtcAnswer)
"""The echo method as a central service that expects another answer sees it (the two sides disagree)."""


async def echo(request: BaseModel) -> Echo:
    await asyncio.sleep(0.01)
    return Echo(echoed=request.model_dump(exclude_unset=True))


async def refuse(request: Body) -> Echo:
    raise RpcError(ErrorCode.viewer_limit, "this box already serves 4 live viewer(s)")


async def crash(request: Body) -> Echo:
    raise ZeroDivisionError("boom")


async def hang(request: Body) -> Echo:
    await asyncio.sleep(30)
    raise AssertionError("not reached")


class Edge:
    """The edge side: an MqttLink with an RpcServer on its own loop thread."""

    def __init__(self, url: str, prefix: str, handler_timeout_s: float = 1.0) -> None:
        self.link = MqttLink(EdgeMqtt(url=url, topic_prefix=prefix), DEVICE)
        self.loop = LoopThread("rpc-test")
        self.server = RpcServer(self.link, self.loop, timeout_s=handler_timeout_s)
        for method, handler in ((ECHO, echo), (REFUSE, refuse), (CRASH, crash), (HANG, hang)):
            self.server.handle(method, handler)
        self.server.handle(STRICT, echo)
        self.loop.start()
        self.link.start()

    def close(self) -> None:
        self.link.stop()
        self.loop.stop()


def central(url: str, prefix: str, timeout_s: float = 5.0) -> RpcClient:
    client = RpcClient(
        CentralMqtt(url=url, topic_prefix=prefix, client_id=f"rpc-test-{uuid.uuid4().hex[:6]}"), timeout_s
    )
    client.start()
    assert client.wait_ready(10), "the rpc client did not subscribe to its reply topic"
    return client


def call(
    client: RpcClient, method: Method[Body, AnswerT], body: Body, device: str = DEVICE, **kwargs: Any
) -> AnswerT:
    return asyncio.run(client.call(device, method, body, **kwargs))


def wait_answering(client: RpcClient, timeout: float = 15.0) -> None:
    """Until the edge answers: its link connects and subscribes on paho's thread, after start() returns."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            call(client, ECHO, Body(value="warm-up"), timeout_s=0.5)
            return
        except (RpcTimeout, RpcUnavailable):
            assert time.monotonic() < deadline, "the edge never answered"


@pytest.fixture
def prefix() -> str:
    return f"gridwatch-test/{uuid.uuid4().hex[:8]}"


@pytest.fixture
def pair(prefix: str) -> Iterator[tuple[Edge, RpcClient]]:
    edge = Edge("mqtt://127.0.0.1:1883", prefix)
    client = central("mqtt://127.0.0.1:1883", prefix)
    wait_answering(client)
    yield edge, client
    client.stop()
    edge.close()


def test_round_trip_and_concurrent_calls_each_get_their_own_answer(pair: tuple[Edge, RpcClient]) -> None:
    _, client = pair
    assert call(client, ECHO, Body(value="hello")) == Echo(echoed={"value": "hello"})

    async def many() -> list[Echo]:
        return await asyncio.gather(*(client.call(DEVICE, ECHO, Body(value=i)) for i in range(20)))

    answers = asyncio.run(many())
    assert [a.echoed["value"] for a in answers] == list(range(20))


@pytest.mark.parametrize(
    ("method", "code", "message"),
    [
        (REFUSE, "viewer_limit", "this box already serves 4 live viewer(s)"),
        (CRASH, "internal", "'crash' failed on the edge: ZeroDivisionError('boom')"),
        (HANG, "timeout", "'hang' took longer than 1 s"),
    ],
)
def test_errors_come_back_with_code_and_message(
    pair: tuple[Edge, RpcClient], method: Method[Body, Echo], code: str, message: str
) -> None:
    _, client = pair
    with pytest.raises(RpcFailed) as failed:
        call(client, method, Body())
    assert (failed.value.code, failed.value.message) == (code, message)
    assert call(client, ECHO, Body(value=1)).echoed == {"value": 1}, "the link must survive a failed call"


def test_a_method_the_edge_does_not_serve_is_unknown_method_naming_it(pair: tuple[Edge, RpcClient]) -> None:
    _, client = pair
    with pytest.raises(UnknownMethod) as unknown:
        call(client, REBOOT, Body())
    assert unknown.value.method == "reboot"
    assert unknown.value.code == ErrorCode.unknown_method
    assert unknown.value.message == "no RPC method 'reboot' (known: crash, echo, hang, refuse, strict)"
    assert call(client, ECHO, Body(value=1)).echoed == {"value": 1}


def test_an_answer_that_does_not_fit_its_method_is_malformed_body_naming_each_field(
    pair: tuple[Edge, RpcClient],
) -> None:
    """The edge answers echo with {"ok": true, "echoed": ...}; a central expecting a WebRTC answer
    from it hears which method answered wrongly and which fields are missing, not a KeyError."""
    _, client = pair
    with pytest.raises(MalformedBody) as malformed:
        call(client, ECHO_AS_OFFER, Body(value=1))
    assert (malformed.value.method, malformed.value.part) == ("echo", "answer")
    assert malformed.value.fields == ("sdp", "session_id", "mode")
    assert malformed.value.code == ErrorCode.internal
    assert malformed.value.message == (
        "malformed answer to 'echo': sdp: Field required; session_id: Field required; mode: Field required"
    )


def test_no_answer_is_a_timeout_not_a_hang(prefix: str) -> None:
    client = central("mqtt://127.0.0.1:1883", prefix)
    try:
        started = time.monotonic()
        with pytest.raises(RpcTimeout, match=r"device 'nobody-home' did not answer 'echo' within 0.5 s"):
            call(client, ECHO, Body(), device="nobody-home", timeout_s=0.5)
        assert time.monotonic() - started < 2.0
    finally:
        client.stop()


class RawRequester:
    """Publishes arbitrary bytes as RPC requests and collects what comes back, on its reply topic
    in the device's tree or on the ``elsewhere`` topics it also listens to."""

    def __init__(self, prefix: str, elsewhere: tuple[str, ...] = ()) -> None:
        self.reply_topic = Topics(prefix).replies(DEVICE, f"raw-{uuid.uuid4().hex[:6]}")
        self.answers: dict[bytes, dict[str, Any]] = {}
        self._arrived = threading.Condition()
        self._client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
        self._client.on_message = self._on_message
        self._client.connect("127.0.0.1", 1883)
        self._client.loop_start()
        subscribed = threading.Event()
        self._client.on_subscribe = lambda *args: subscribed.set()
        self._client.subscribe([(topic, 1) for topic in (self.reply_topic, *elsewhere)])
        assert subscribed.wait(5), "raw requester did not subscribe"

    def _on_message(self, client: mqtt.Client, userdata: object, message: mqtt.MQTTMessage) -> None:
        with self._arrived:
            self.answers[getattr(message.properties, "CorrelationData", b"")] = json.loads(message.payload)
            self._arrived.notify_all()

    def send(
        self,
        topic: str,
        payload: bytes,
        correlation: bytes | None,
        reply: bool = True,
        reply_to: str | None = None,
    ) -> None:
        properties = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]  # paho has no hints here
        if reply:
            properties.ResponseTopic = reply_to or self.reply_topic
        if correlation is not None:
            properties.CorrelationData = correlation
        self._client.publish(topic, payload, qos=1, properties=properties).wait_for_publish(5)

    def answer(self, correlation: bytes, timeout: float = 5.0) -> dict[str, Any]:
        with self._arrived:
            assert self._arrived.wait_for(lambda: correlation in self.answers, timeout), "no answer"
            return self.answers[correlation]

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        (b"{not json", "the request body is not JSON: "),
        (b"\xff\xfe\x00", "the request body is not JSON: "),
        (b"[1, 2, 3]", "the request body must be a JSON object, not list"),
        (b"", "the request body is not JSON: "),
    ],
)
def test_malformed_requests_get_bad_request_and_the_link_lives_on(
    pair: tuple[Edge, RpcClient], prefix: str, payload: bytes, expected: str
) -> None:
    edge, client = pair
    raw = RawRequester(prefix)
    try:
        topic = edge.link.topics.rpc(DEVICE, "echo")
        raw.send(topic, b'{"no": "reply topic"}', b"dropped", reply=False)  # nobody to answer: dropped
        raw.send(topic, payload, b"corr-1")
        answer = raw.answer(b"corr-1")
        assert answer["ok"] is False
        assert answer["code"] == "bad_request"
        assert answer["error"].startswith(expected)
        assert b"dropped" not in raw.answers
    finally:
        raw.close()
    assert edge.link.connected
    assert call(client, ECHO, Body(value="still here")).echoed == {"value": "still here"}


def test_a_request_that_does_not_fit_its_method_gets_bad_request_naming_the_field(
    pair: tuple[Edge, RpcClient], prefix: str
) -> None:
    edge, _ = pair
    raw = RawRequester(prefix)
    try:
        raw.send(edge.link.topics.rpc(DEVICE, "strict"), b'{"camera_id": "no spaces, please"}', b"corr-1")
        answer = raw.answer(b"corr-1")
    finally:
        raw.close()
    assert (answer["ok"], answer["code"]) == (False, "bad_request")
    assert answer["error"].startswith(
        "malformed request for 'strict': camera_id: String should match pattern"
    )


@pytest.mark.parametrize(
    "elsewhere",
    [
        "{prefix}/devices/other-box/replies/central",
        "{prefix}/devices/rpc-box/events",
        "{prefix}/devices/rpc-box/replies/central/deeper",
        "{prefix}/replies/central",
    ],
)
def test_the_edge_answers_only_on_its_own_reply_topics(
    pair: tuple[Edge, RpcClient], prefix: str, elsewhere: str
) -> None:
    """A request naming any other response topic is dropped: no request makes the edge publish elsewhere."""
    edge, _ = pair
    topic = elsewhere.format(prefix=prefix)
    raw = RawRequester(prefix, elsewhere=(topic,))
    try:
        raw.send(edge.link.topics.rpc(DEVICE, "echo"), b'{"to": "elsewhere"}', b"elsewhere", reply_to=topic)
        raw.send(edge.link.topics.rpc(DEVICE, "echo"), b'{"to": "its own"}', b"own")
        assert raw.answer(b"own") == {"ok": True, "echoed": {"to": "its own"}}  # answers arrive in order
        assert b"elsewhere" not in raw.answers
    finally:
        raw.close()


class RawEdge:
    """A device that answers every RPC request with ``answers(reply_to)``: (topic, payload) pairs it
    publishes with the request's correlation data, wherever they go and whatever they hold."""

    def __init__(self, prefix: str, device: str, answers: Callable[[str], list[tuple[str, bytes]]]) -> None:
        self._answers = answers
        self._client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
        self._client.on_message = self._on_message
        subscribed = threading.Event()
        self._client.on_subscribe = lambda *args: subscribed.set()
        self._client.connect("127.0.0.1", 1883)
        self._client.loop_start()
        self._client.subscribe(Topics(prefix).rpc(device, "+"), qos=1)
        assert subscribed.wait(5), "the raw edge did not subscribe"

    def _on_message(self, client: mqtt.Client, _userdata: object, request: mqtt.MQTTMessage) -> None:
        properties = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]  # paho has no hints here
        properties.CorrelationData = getattr(request.properties, "CorrelationData", b"")
        for topic, payload in self._answers(str(getattr(request.properties, "ResponseTopic", ""))):
            client.publish(topic, payload, qos=1, properties=properties)

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()


class Said(BaseModel):
    said: str


SAY = Method("say", Body, Said)


def test_an_answer_from_another_device_than_the_one_asked_is_dropped(prefix: str) -> None:
    """On a broker that let one device answer in another's place, the central still takes only the device asked."""
    topics = Topics(prefix)

    def twice(reply_to: str) -> list[tuple[str, bytes]]:
        token = reply_to.rsplit("/", 1)[1]
        return [
            (topics.replies("impostor-box", token), b'{"ok": true, "said": "impostor"}'),
            (reply_to, b'{"ok": true, "said": "victim"}'),
        ]

    impostor = RawEdge(prefix, "victim-box", twice)
    client = central("mqtt://127.0.0.1:1883", prefix)
    try:
        assert call(client, SAY, Body(), device="victim-box").said == "victim"
    finally:
        client.stop()
        impostor.close()


@pytest.mark.parametrize(
    ("payload", "problem"),
    [
        (b"{not json", "body: not JSON (Expecting property name enclosed in double quotes"),
        (b"[1, 2]", "body: a JSON list, not an object"),
        (b'{"ok": true, "said": ["not", "text"]}', "said: Input should be a valid string"),
        (b'{"ok": false, "error": "no", "code": "no_such_code"}', "code: Input should be"),
        (b'{"ok": false, "code": "internal"}', "error: Field required"),
    ],
)
def test_an_answer_that_is_no_answer_is_malformed_body(prefix: str, payload: bytes, problem: str) -> None:
    edge = RawEdge(prefix, DEVICE, lambda reply_to: [(reply_to, payload)])
    client = central("mqtt://127.0.0.1:1883", prefix)
    try:
        with pytest.raises(MalformedBody) as malformed:
            call(client, SAY, Body())
    finally:
        client.stop()
        edge.close()
    assert (malformed.value.method, malformed.value.part) == ("say", "answer")
    assert malformed.value.message.startswith(f"malformed answer to 'say': {problem}")


def test_the_edge_resubscribes_after_the_broker_restarts(tmp_path: Path) -> None:
    with Broker(tmp_path) as broker:
        edge = Edge(broker.url, "gridwatch/v1")
        client = central(broker.url, "gridwatch/v1")
        try:
            wait_answering(client)
            broker.restart()
            deadline = time.monotonic() + 30
            while True:  # both sides reconnect with back-off; the edge must subscribe again by itself
                try:
                    assert call(client, ECHO, Body(value="after"), timeout_s=1.0).echoed == {"value": "after"}
                    break
                except (RpcTimeout, RpcUnavailable):
                    assert time.monotonic() < deadline, "no answer after the broker restart"
        finally:
            client.stop()
            edge.close()
