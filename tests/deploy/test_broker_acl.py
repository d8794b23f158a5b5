"""The shipped Mosquitto configuration (``deploy/mosquitto``) against a device with valid credentials.

A device must not take over another connection's client id (the central's above all: while it
is kicked off, events are lost), read another device's requests, or publish anywhere but its
own events, status and replies, whether it speaks MQTT v5 or v3.1.1. The product's own clients
must still do their work through the same configuration.

Each test runs its own broker from the shipped files (``tests/support/deploy_broker.py``). A
message that must not arrive is checked against a marker sent after it to the same subscriber:
Mosquitto routes messages in the order it handles them, so once the marker is in, the forbidden
message would have been too.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.enums import MQTTProtocolVersion as Protocol
from paho.mqtt.reasoncodes import ReasonCode
from pydantic import BaseModel

from central.config import MqttConfig as CentralMqtt
from central.rpc import RpcClient, RpcTimeout, RpcUnavailable
from contract.rpc import Method
from contract.topics import Topics
from edge.commands.rpc import LoopThread, RpcServer
from edge.config import MqttConfig as EdgeMqtt
from edge.delivery.mqtt_link import Ack, MqttLink
from tests.support.deploy_broker import DeployBroker
from tests.support.stack import wait_until

TOPICS = Topics()  # the shipped ACL is written for the contract's default prefix
CENTRAL = "gridwatch-central"  # the central replicas' account in the shipped ACL
DEVICE, OTHER = "town-centre-01", "town-centre-02"
TOKEN = "0123456789abcdef"
WAIT_S = 10.0
NOT_AUTHORIZED = 135

PROTOCOLS = pytest.mark.parametrize("protocol", [mqtt.MQTTv5, mqtt.MQTTv311], ids=["mqtt5", "mqtt311"])


class Peer:
    """One raw paho client that keeps what it receives and counts how often it lost its connection."""

    def __init__(
        self,
        port: int,
        username: str,
        password: str,
        client_id: str,
        protocol: Protocol = mqtt.MQTTv5,
        topics: tuple[str, ...] = (),
    ) -> None:
        self.client_id = client_id
        self.received: list[tuple[str, bytes]] = []
        self.disconnects = 0
        self._acks: dict[int, int] = {}
        self._connack: list[bool] = []
        self._changed = threading.Condition()
        self._client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=protocol)
        self._client.username_pw_set(username, password)
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = self._on_disconnect
        self._client.on_message = self._on_message
        self._client.on_publish = self._on_publish
        self._client.on_subscribe = self._on_subscribe
        self._client.connect("127.0.0.1", port, keepalive=30)
        self._client.loop_start()
        assert self.wait_for(lambda: bool(self._connack), WAIT_S), f"no CONNACK for {client_id}"
        self.accepted = self._connack[0]
        if self.accepted and topics:
            self._client.subscribe([(topic, 1) for topic in topics])
            assert self.wait_for(lambda: -1 in self._acks, WAIT_S), f"no SUBACK for {client_id}"

    def publish(self, topic: str, payload: bytes) -> int:
        """QoS 1; the PUBACK's reason code (MQTT v3.1.1 has none: always 0)."""
        mid = self._client.publish(topic, payload, qos=1).mid
        assert self.wait_for(lambda: mid in self._acks, WAIT_S), f"no PUBACK for {topic}"
        return self._acks[mid]

    def wait_for(self, predicate: Callable[[], bool], timeout: float) -> bool:
        with self._changed:
            return self._changed.wait_for(predicate, timeout)

    def got(self, topic: str, payload: bytes) -> bool:
        return self.wait_for(lambda: (topic, payload) in self.received, WAIT_S)

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()

    def _on_connect(
        self, _client: mqtt.Client, _userdata: object, _flags: object, reason: ReasonCode, _props: object
    ) -> None:
        with self._changed:
            self._connack.append(not reason.is_failure)
            self._changed.notify_all()

    def _on_disconnect(self, *_args: object) -> None:
        with self._changed:
            self.disconnects += 1
            self._changed.notify_all()

    def _on_message(self, _client: mqtt.Client, _userdata: object, message: mqtt.MQTTMessage) -> None:
        with self._changed:
            self.received.append((message.topic, bytes(message.payload)))
            self._changed.notify_all()

    def _on_publish(
        self, _client: mqtt.Client, _userdata: object, mid: int, reason: ReasonCode, _props: object
    ) -> None:
        with self._changed:
            self._acks[mid] = reason.value
            self._changed.notify_all()

    def _on_subscribe(self, *_args: object) -> None:
        with self._changed:
            self._acks[-1] = 0
            self._changed.notify_all()


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[DeployBroker]:
    with DeployBroker(tmp_path, [DEVICE, OTHER], CENTRAL) as running:
        yield running


@pytest.fixture
def peers() -> Iterator[list[Peer]]:
    """Every Peer a test opens, closed after it."""
    opened: list[Peer] = []
    yield opened
    for peer in opened:
        peer.close()


def device(
    broker: DeployBroker,
    peers: list[Peer],
    name: str,
    client_id: str,
    protocol: Protocol = mqtt.MQTTv5,
    topics: tuple[str, ...] = (),
) -> Peer:
    peer = Peer(broker.devices_port, name, broker.passwords[name], client_id, protocol, topics)
    peers.append(peer)
    assert peer.accepted, broker.log
    return peer


def central(
    broker: DeployBroker, peers: list[Peer], topics: tuple[str, ...] = (), client_id: str | None = None
) -> Peer:
    """The central side as ingest sees the broker: its account, its listener, its client id."""
    peer = Peer(
        broker.central_port,
        CENTRAL,
        broker.passwords[CENTRAL],
        client_id or CentralMqtt().client_id,
        topics=topics,
    )
    peers.append(peer)
    assert peer.accepted, broker.log
    return peer


@PROTOCOLS
def test_a_device_cannot_take_the_central_services_client_id(
    broker: DeployBroker, peers: list[Peer], protocol: Protocol
) -> None:
    ingest = central(broker, peers, (TOPICS.shared_events(CentralMqtt().group),))
    other = device(broker, peers, OTHER, OTHER)
    device(broker, peers, DEVICE, ingest.client_id, protocol)  # accepted, but not as the central
    assert other.publish(TOPICS.events(OTHER), b"published after the attempt") == 0
    assert ingest.got(TOPICS.events(OTHER), b"published after the attempt"), broker.log
    assert ingest.disconnects == 0, f"the central service was kicked off:\n{broker.log}"


@PROTOCOLS
def test_a_device_cannot_take_another_devices_client_id(
    broker: DeployBroker, peers: list[Peer], protocol: Protocol
) -> None:
    victim = device(broker, peers, OTHER, OTHER, topics=(TOPICS.rpc(OTHER, "+"),))
    sender = central(broker, peers)
    device(broker, peers, DEVICE, victim.client_id, protocol)
    assert sender.publish(TOPICS.rpc(OTHER, "snapshot"), b"{}") == 0
    assert victim.got(TOPICS.rpc(OTHER, "snapshot"), b"{}"), broker.log
    assert victim.disconnects == 0, f"the device was kicked off:\n{broker.log}"


@PROTOCOLS
def test_device_credentials_do_not_open_the_central_services_listener(
    broker: DeployBroker, protocol: Protocol
) -> None:
    """There no client id is bound to its user, so a device let in there could take the central's."""
    intruder = Peer(broker.central_port, DEVICE, broker.passwords[DEVICE], CentralMqtt().client_id, protocol)
    intruder.close()
    assert not intruder.accepted


@PROTOCOLS
def test_a_device_cannot_read_another_devices_requests(
    broker: DeployBroker, peers: list[Peer], protocol: Protocol
) -> None:
    owner = device(broker, peers, OTHER, OTHER, topics=(TOPICS.rpc(OTHER, "+"),))
    snoop = device(
        broker,
        peers,
        DEVICE,
        DEVICE,
        protocol,
        (TOPICS.rpc(OTHER, "+"), f"{TOPICS.prefix}/devices/+/rpc/#", "#"),
    )
    sender = central(broker, peers)
    assert sender.publish(TOPICS.rpc(OTHER, "webrtc_offer"), b"for the owner only") == 0
    assert sender.publish(TOPICS.rpc(DEVICE, "snapshot"), b"marker") == 0
    assert owner.got(TOPICS.rpc(OTHER, "webrtc_offer"), b"for the owner only")
    assert snoop.got(TOPICS.rpc(DEVICE, "snapshot"), b"marker")
    assert {topic for topic, _ in snoop.received} == {TOPICS.rpc(DEVICE, "snapshot")}


FORBIDDEN = {
    "another device's events": TOPICS.events(OTHER),
    "another device's status": TOPICS.status(OTHER),
    "another device's requests": TOPICS.rpc(OTHER, "snapshot"),
    "another device's replies": TOPICS.replies(OTHER, TOKEN),
    "replies outside its own tree": f"{TOPICS.prefix}/replies/{TOKEN}",
}


@PROTOCOLS
@pytest.mark.parametrize("topic", FORBIDDEN.values(), ids=FORBIDDEN.keys())
def test_a_device_cannot_publish_where_it_does_not_belong(
    broker: DeployBroker, peers: list[Peer], protocol: Protocol, topic: str
) -> None:
    """Whoever may read the topic (the central, or the other device) must not receive the device's message."""
    listener = central(
        broker,
        peers,
        (TOPICS.all_events(), TOPICS.all_status(), TOPICS.all_replies(TOKEN), f"{TOPICS.prefix}/replies/#"),
        client_id=f"{CENTRAL}-listener",
    )
    other = device(broker, peers, OTHER, OTHER, topics=(TOPICS.rpc(OTHER, "+"),))
    attacker = device(broker, peers, DEVICE, DEVICE, protocol)
    reason = attacker.publish(topic, b"forged")
    assert reason == (NOT_AUTHORIZED if protocol == mqtt.MQTTv5 else 0)
    assert attacker.publish(TOPICS.events(DEVICE), b"marker") == 0
    assert listener.publish(TOPICS.rpc(OTHER, "snapshot"), b"marker") == 0
    assert listener.got(TOPICS.events(DEVICE), b"marker")
    assert other.got(TOPICS.rpc(OTHER, "snapshot"), b"marker")
    assert [m for m in listener.received + other.received if m[1] == b"forged"] == []


class Echo(BaseModel):
    echoed: dict[str, Any]


class Body(BaseModel):
    value: str


ECHO = Method("echo", Body, Echo)


async def echo(request: Body) -> Echo:
    return Echo(echoed=request.model_dump())


def test_devices_and_the_central_service_work_through_the_deploy_configuration(
    broker: DeployBroker, peers: list[Peer]
) -> None:
    """The edge's MqttLink and RpcServer, the central's RpcClient and ingest's subscriptions, as shipped."""
    ingest = central(broker, peers, (TOPICS.shared_events(CentralMqtt().group), TOPICS.all_status()))
    link = MqttLink(
        EdgeMqtt(
            url=f"mqtt://127.0.0.1:{broker.devices_port}", username=DEVICE, password=broker.passwords[DEVICE]
        ),
        DEVICE,
    )
    loop = LoopThread("deploy-rpc")
    RpcServer(link, loop).handle(ECHO, echo)
    rpc = RpcClient(
        CentralMqtt(
            url=f"mqtt://127.0.0.1:{broker.central_port}",
            username=CENTRAL,
            password=broker.passwords[CENTRAL],
        ),
        5.0,
    )
    loop.start()
    link.start()
    rpc.start()
    try:
        assert rpc.wait_ready(WAIT_S), broker.log
        acks: list[Ack] = []
        link.publish(TOPICS.events(DEVICE), b'{"event": 1}', on_ack=lambda ack, reason: acks.append(ack))
        link.publish(
            TOPICS.status(DEVICE),
            b'{"state": "online"}',
            retain=True,
            on_ack=lambda ack, reason: acks.append(ack),
        )
        assert ingest.got(TOPICS.events(DEVICE), b'{"event": 1}'), broker.log
        assert ingest.got(TOPICS.status(DEVICE), b'{"state": "online"}'), broker.log
        wait_until(
            lambda: acks == [Ack.delivered, Ack.delivered],
            WAIT_S,
            "the broker's acknowledgements, both delivered",
        )
        assert answered(rpc) == Echo(echoed={"value": "through the deploy broker"}), broker.log
    finally:
        rpc.stop()
        link.stop()
        loop.stop()


def answered(rpc: RpcClient) -> Echo:
    """The edge's answer, once its link has connected and subscribed (on paho's thread, after start())."""
    deadline = time.monotonic() + WAIT_S
    while True:
        try:
            return asyncio.run(rpc.call(DEVICE, ECHO, Body(value="through the deploy broker"), timeout_s=1))
        except (RpcTimeout, RpcUnavailable):
            if time.monotonic() > deadline:
                raise
