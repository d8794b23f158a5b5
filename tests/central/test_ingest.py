"""Ingest over a real Mosquitto: exactly-once storage, a thousand bad messages, status, sessions, replicas.

Each test publishes under its own topic prefix, so it never sees other tests' (or other
engineers') traffic on the shared broker.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
import sqlalchemy as sa
from paho.mqtt.enums import CallbackAPIVersion

from central.config import CentralConfig
from central.ingest import Intake, Outcome
from central.ingest_mqtt import MqttIngest
from central.models import Camera, Device, Ticket
from central.models import Event as EventRow
from central.services import Services
from contract.event import Event
from contract.topics import Topics
from tests.central.conftest import START, central_config
from tests.central.factories import event, status
from tests.central.waiting import wait_until


@pytest.fixture
def config(database_url: str, tmp_path: Path) -> CentralConfig:
    return central_config(
        database_url, tmp_path, **{"mqtt.topic_prefix": f"t-{uuid.uuid4().hex[:8]}/gridwatch/v1"}
    )


@pytest.fixture
def topics(config: CentralConfig) -> Topics:
    return Topics(config.mqtt.topic_prefix)


@pytest.fixture
def publisher() -> Iterator[mqtt.Client]:
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2, client_id=f"pub-{uuid.uuid4().hex[:8]}", protocol=mqtt.MQTTv5
    )
    client.connect("127.0.0.1", 1883)
    client.loop_start()
    yield client
    client.disconnect()
    client.loop_stop()


def started(config: CentralConfig, intake: Intake) -> MqttIngest:
    ingest = MqttIngest(config.mqtt, intake)
    ingest.start()
    assert ingest.wait_subscribed(10), "ingest did not subscribe"
    return ingest


@pytest.fixture
def ingest(config: CentralConfig, services: Services) -> Iterator[MqttIngest]:
    running = started(config, services.intake)
    yield running
    running.stop()


def publish(client: mqtt.Client, topic: str, payload: bytes | str, retain: bool = False) -> None:
    client.publish(topic, payload, qos=1, retain=retain).wait_for_publish(10)


def count(services: Services, model: type) -> int:
    with services.sessions() as session:
        return session.scalar(sa.select(sa.func.count()).select_from(model)) or 0


def handled(intake: Intake, kind: str = "events") -> int:
    return sum(n for key, n in intake.counts().items() if key.startswith(kind + "_"))


def test_the_same_event_delivered_three_times_is_one_row_and_one_ticket(
    services: Services, ingest: MqttIngest, publisher: mqtt.Client, topics: Topics
) -> None:
    e = event()
    for _ in range(3):
        publish(publisher, topics.events(e.device_id), e.to_json())
    assert wait_until(lambda: handled(services.intake) == 3, 15), services.intake.counts()
    assert services.intake.counts() == {"events_stored": 1, "events_duplicate": 2}
    assert (count(services, EventRow), count(services, Ticket)) == (1, 1)


def malformed_payloads(valid: Event) -> list[bytes]:
    """A thousand messages the contract refuses, of every kind a broken or hostile sender makes."""
    good = valid.to_json()
    as_dict = json.loads(good)
    kinds: list[bytes] = []
    kinds += [good[:cut].encode() for cut in range(0, len(good) - 1, max(1, len(good) // 200))][:200]
    wrong_types = [
        ("confidence", "high"),
        ("confidence", 7),
        ("phase", 1),
        ("phase", "begin"),
        ("event_id", "not-a-uuid"),
        ("started_at", "yesterday"),
        ("started_at", "2026-05-01T08:00:00"),
        ("media", {"kind": "snapshot"}),
        ("details", []),
        ("type", "graffiti"),
        ("zone_id", None),
    ]
    for i in range(200):
        key, value = wrong_types[i % len(wrong_types)]
        kinds.append(json.dumps({**as_dict, "event_id": str(uuid.uuid4()), key: value}).encode())
    for i in range(200):
        size = [200, 5_000, 100_000, 300_000][i % 4]
        kinds.append(json.dumps({**as_dict, "camera_id": "c" * size}).encode())
    for i in range(200):
        kinds.append(json.dumps({**as_dict, "schema": f"gridwatch.event/{2 + i % 3}", "extra": i}).encode())
    garbage = [
        b"",
        b"null",
        b"[]",
        b"42",
        b'"text"',
        b"\xff\xfe\x00binary",
        b"{",
        b"{}" * 50,
        json.dumps({**as_dict, "device_id": "someone-else"}).encode(),
    ]
    kinds += [garbage[i % len(garbage)] for i in range(200)]
    assert len(kinds) == 1000
    return kinds


def test_a_thousand_malformed_messages_are_counted_and_valid_ones_after_them_stored(
    services: Services, ingest: MqttIngest, publisher: mqtt.Client, topics: Topics
) -> None:
    bad = malformed_payloads(event())
    for payload in bad:
        publisher.publish(topics.events("box-1"), payload, qos=1)
    valid = [event(zone=f"zone-{i}") for i in range(5)]
    for e in valid:
        publish(publisher, topics.events(e.device_id), e.to_json())
    assert wait_until(lambda: handled(services.intake) == 1005, 60), services.intake.counts()
    assert services.intake.counts() == {"events_malformed": 1000, "events_stored": 5}
    assert ingest.wait_subscribed(0), "ingest is still running and subscribed"
    assert (count(services, EventRow), count(services, Ticket)) == (5, 5)


def test_status_keeps_the_registry_and_the_last_will_marks_the_device_offline(
    services: Services, ingest: MqttIngest, publisher: mqtt.Client, topics: Topics
) -> None:
    topic = topics.status("box-1")
    try:
        publish(publisher, topic, status(sent_at=START).to_json(), retain=True)
        publish(publisher, topic, status(sent_at=START - timedelta(minutes=5), district="stale").to_json())
        publish(publisher, topic, '{"state":"offline"}', retain=True)
        assert wait_until(lambda: handled(services.intake, "status") == 3, 15), services.intake.counts()
    finally:
        publish(publisher, topic, b"", retain=True)  # clear the retained message
    assert services.intake.counts()["status_stale"] == 1
    with services.sessions() as session:
        device = session.get(Device, "box-1")
        camera = session.get(Camera, ("box-1", "cam-1"))
        assert device is not None
        assert camera is not None
        assert (device.state, device.outbox_pending, device.version) == ("offline", 3, "0.1.0")
        assert (camera.district, camera.state, camera.reconnects) == ("chongchuan", "streaming", 2)


def test_events_published_while_central_is_down_arrive_when_it_returns(
    database_url: str, tmp_path: Path, services: Services, publisher: mqtt.Client
) -> None:
    config = central_config(
        database_url,
        tmp_path,
        **{"mqtt.topic_prefix": f"t-{uuid.uuid4().hex[:8]}/gridwatch/v1", "mqtt.session_expiry_s": 60},
    )
    topics = Topics(config.mqtt.topic_prefix)
    intake = Intake(services.sessions, services.desk, services.clock, topics, 256 * 1024)
    started(config, intake).stop()  # registers the persistent session, then goes away
    missed = event()
    publish(publisher, topics.events(missed.device_id), missed.to_json())
    again = started(config, intake)
    try:
        assert wait_until(lambda: count(services, EventRow) == 1, 15), intake.counts()
    finally:
        again.stop()
        _end_session(config.mqtt.client_id)


@pytest.mark.parametrize(("zones", "expected_tickets"), [(40, 40), (1, 1)])
def test_two_replicas_in_one_group_split_the_events_and_file_each_once(
    config: CentralConfig,
    services: Services,
    publisher: mqtt.Client,
    topics: Topics,
    zones: int,
    expected_tickets: int,
) -> None:
    """With one zone, both replicas race to file starts of one problem: still exactly one ticket."""
    second_config = config.model_copy(
        update={"mqtt": config.mqtt.model_copy(update={"client_id": config.mqtt.client_id + "-b"})}
    )
    second_intake = Intake(services.sessions, services.desk, services.clock, topics, 256 * 1024)
    first, second = started(config, services.intake), started(second_config, second_intake)
    try:
        for i in range(40):
            e = event(zone=f"zone-{i % zones}", at=START + timedelta(seconds=i))
            publish(publisher, topics.events(e.device_id), e.to_json())
        assert wait_until(lambda: handled(services.intake) + handled(second_intake) == 40, 30)
    finally:
        first.stop()
        second.stop()
    assert handled(services.intake) > 0, "the shared subscription split the load"
    assert handled(second_intake) > 0, "the shared subscription split the load"
    assert (count(services, EventRow), count(services, Ticket)) == (40, expected_tickets)


def _end_session(client_id: str) -> None:
    """Connect once with a clean start and no expiry, so the broker forgets the test's session."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
    client.connect("127.0.0.1", 1883, clean_start=True)
    client.disconnect()


def test_two_replicas_taking_batches_of_one_problem_at_once_open_one_ticket_for_it(
    database_url: str, tmp_path: Path, services: Services, publisher: mqtt.Client
) -> None:
    """Both replicas hold a batch of starts of the same three problems and file them at the same time:
    without the per-place lock (PostgreSQL; SQLite has one writer) each would open its own tickets."""
    overrides = {"mqtt.topic_prefix": f"t-{uuid.uuid4().hex[:8]}/gridwatch/v1", "mqtt.batch_wait_ms": 300}
    first_config = central_config(database_url, tmp_path, **overrides)
    second_config = first_config.model_copy(
        update={
            "mqtt": first_config.mqtt.model_copy(update={"client_id": first_config.mqtt.client_id + "-b"})
        }
    )
    topics = Topics(first_config.mqtt.topic_prefix)
    intakes = [Intake(services.sessions, services.desk, services.clock, topics, 256 * 1024) for _ in range(2)]
    known = event(zone="zone-elsewhere")  # the camera's record exists: claiming it makes no replica wait
    assert intakes[0].event(topics.events(known.device_id), known.to_json().encode()) is Outcome.stored
    replicas = [started(first_config, intakes[0]), started(second_config, intakes[1])]
    try:
        for i in range(300):
            e = event(zone=f"zone-{i % 3}", at=START + timedelta(seconds=i))
            publisher.publish(topics.events(e.device_id), e.to_json(), qos=1)
        assert wait_until(lambda: sum(handled(intake) for intake in intakes) == 301, 60)
    finally:
        for replica in replicas:
            replica.stop()
    assert all(handled(intake) > 0 for intake in intakes), "the shared subscription split the load"
    assert (count(services, EventRow), count(services, Ticket)) == (301, 4)
