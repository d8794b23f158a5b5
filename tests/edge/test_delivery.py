"""Delivery through a real Mosquitto that goes away: every event arrives once, evidence first."""

from __future__ import annotations

import hashlib
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest

from contract.event import Event, MediaKind, MediaRef
from edge.commands.runtime import Publishing, media_store
from edge.config import CentralConfig, EdgeConfig, MqttConfig
from edge.delivery.mqtt_link import Ack, AckCallback, MqttLink
from edge.delivery.outbox import Outbox
from edge.delivery.sender import Delivery
from edge.delivery.uploader import Uploader
from edge.evidence.store import MediaStore
from tests.edge.test_outbox import make_event
from tests.support.broker import Broker, Recorder
from tests.support.stack import wait_until

DEVICE = "dev-1"


@dataclass
class Edge:
    """The delivery path as the agent wires it."""

    outbox: Outbox
    link: MqttLink
    delivery: Delivery

    def put(self, event: Event) -> None:
        self.outbox.put(self.link.topics.events(DEVICE), event)

    def close(self) -> None:
        self.delivery.stop()
        self.link.stop()
        self.outbox.close()


def start_edge(tmp_path: Path, broker: Broker, central_url: str | None = None) -> tuple[Edge, MediaStore]:
    store = MediaStore(tmp_path / "media", max_bytes=10_000_000)
    outbox = Outbox(tmp_path / "outbox.db")
    link = MqttLink(MqttConfig(url=broker.url, keepalive_s=5), DEVICE, reconnect_max_s=1)
    uploader = Uploader(CentralConfig(url=central_url, token="tok"), store)
    delivery = Delivery(
        outbox,
        link,
        uploader,
        retry_initial_s=0.05,
        retry_max_s=0.2,
        unheard_initial_s=0.2,
        unheard_max_s=0.5,
    )
    link.start()
    delivery.start()
    return Edge(outbox, link, delivery), store


def event_ids(messages: list[mqtt.MQTTMessage]) -> list[str]:
    return [str(Event.from_json(bytes(m.payload)).event_id) for m in messages]


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    with Broker(tmp_path) as running:
        yield running


@pytest.fixture
def recorder(broker: Broker) -> Iterator[Recorder]:
    """Subscribed before any event exists; its session outlives broker restarts."""
    subscriber = Recorder(
        broker.port, "gridwatch/v1/devices/+/events", client_id=f"rec-{uuid.uuid4().hex[:8]}"
    )
    yield subscriber
    subscriber.close()


@dataclass
class HandOverLog:
    """Wraps the link's publish to see what delivery hands to paho and what the broker acked."""

    handed: Counter[str] = field(default_factory=Counter)
    acked: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def wrap(self, link: MqttLink, monkeypatch: pytest.MonkeyPatch) -> None:
        publish = link.publish

        def spy(
            topic: str, payload: bytes | str, *, retain: bool = False, on_ack: AckCallback | None = None
        ) -> None:
            if not topic.endswith("/events"):
                return publish(topic, payload, retain=retain, on_ack=on_ack)
            event_id = str(Event.from_json(payload).event_id)
            with self.lock:
                self.handed[event_id] += 1

            def acked(ack: Ack, reason: str) -> None:
                with self.lock:
                    self.acked.add(event_id)
                if on_ack:
                    on_ack(ack, reason)

            return publish(topic, payload, retain=retain, on_ack=acked)

        monkeypatch.setattr(link, "publish", spy)

    def unacked(self) -> set[str]:
        with self.lock:
            return set(self.handed) - self.acked


def test_a_broker_restart_mid_stream_loses_nothing_and_repeats_only_what_was_in_doubt(
    tmp_path: Path, broker: Broker, recorder: Recorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    edge, _ = start_edge(tmp_path, broker)
    hand_over = HandOverLog()
    hand_over.wrap(edge.link, monkeypatch)
    try:
        sent = [make_event() for _ in range(200)]
        for event in sent[:100]:
            edge.put(event)
        assert recorder.wait_for(lambda got: len(got) >= 50, timeout=10)
        broker.stop()  # SIGTERM while up to a window of events are unacknowledged
        in_doubt = hand_over.unacked()
        for event in sent[100:]:
            edge.put(event)
        time.sleep(2)  # the outage itself
        assert not edge.link.connected
        broker.start()

        assert recorder.wait_for(lambda got: len(set(event_ids(got))) == 200, timeout=30), broker.log[-2000:]
        assert edge.delivery.wait_empty(timeout=10)
        assert edge.outbox.count() == 0
        assert set(event_ids(recorder.snapshot())) == {str(e.event_id) for e in sent}
        assert [eid for eid, n in hand_over.handed.items() if n > 1] == [], "paho resends; delivery must not"
        # QoS 1 allows repeats, and Mosquitto makes them: on SIGTERM it drops the PUBACKs it
        # had queued but not written, so paho resends messages the broker already took.
        # Only those in doubt at the stop may repeat; the broker's own resends to the
        # subscriber carry DUP and are left out.
        fresh = Counter(event_ids([m for m in recorder.snapshot() if not m.dup]))
        assert {eid for eid, n in fresh.items() if n > 1} <= in_doubt
    finally:
        edge.close()


def test_events_put_while_the_broker_is_down_go_once_it_is_up(
    tmp_path: Path, broker: Broker, recorder: Recorder
) -> None:
    broker.stop()
    edge, _ = start_edge(tmp_path, broker)  # must start without a broker
    try:
        sent = [make_event() for _ in range(20)]
        for event in sent:
            edge.put(event)
        assert not edge.delivery.wait_empty(timeout=1.0)
        assert edge.outbox.count() == 20

        broker.start()
        assert edge.delivery.wait_empty(timeout=15)
        assert recorder.wait_for(lambda got: len(got) >= 20, timeout=10)
        assert sorted(event_ids(recorder.snapshot())) == sorted(str(e.event_id) for e in sent)
    finally:
        edge.close()


def test_a_new_process_sends_what_the_last_one_left(
    tmp_path: Path, broker: Broker, recorder: Recorder
) -> None:
    left = Outbox(tmp_path / "outbox.db")  # written by a process that died before delivering
    sent = [make_event() for _ in range(5)]
    for event in sent:
        left.put("gridwatch/v1/devices/dev-1/events", event)
    left.close()

    edge, _ = start_edge(tmp_path, broker)
    try:
        assert edge.delivery.wait_empty(timeout=10)
        assert recorder.wait_for(lambda got: len(got) >= 5, timeout=5)
        assert event_ids(recorder.snapshot()) == [str(e.event_id) for e in sent]
    finally:
        edge.close()


def test_events_nobody_subscribed_to_stay_in_the_outbox_until_a_subscriber_appears(
    tmp_path: Path, broker: Broker, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Mosquitto acknowledges an MQTT v5 publish that matches no subscription with reason 16: it took the
    event and dropped it. Such events are kept and one probes, with back-off, until someone receives it
    (here a shared subscription, as the central service uses); then all go."""
    edge, _ = start_edge(tmp_path, broker)
    hand_over = HandOverLog()
    hand_over.wrap(edge.link, monkeypatch)
    try:
        sent = [make_event() for _ in range(5)]
        for event in sent:
            edge.put(event)
        wait_until(lambda: max(hand_over.handed.values(), default=0) >= 3, 10, "an event probing twice more")
        assert edge.outbox.count() == 5, "events that reached nobody were deleted"

        recorder = Recorder(
            broker.port, "$share/central/gridwatch/v1/devices/+/events", client_id="late-central"
        )
        try:
            assert edge.delivery.wait_empty(timeout=15), broker.log[-2000:]
            assert recorder.wait_for(lambda got: len(got) >= 5, timeout=5)
            assert sorted(event_ids(recorder.snapshot())) == sorted(str(e.event_id) for e in sent)
        finally:
            recorder.close()
    finally:
        edge.close()


@dataclass
class Central:
    """A stand-in for the central media endpoint that records each PUT and checks its hash."""

    fail_first: set[str] = field(default_factory=set)
    down: bool = False  # every PUT gets 503, as from a proxy in front of a central service that is away
    puts: list[tuple[float, str, int]] = field(default_factory=list)  # (monotonic time, sha256, status)
    problems: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def handle(self, path: str, body: bytes, auth: str | None) -> int:
        sha256 = path.rsplit("/", 1)[-1]
        with self.lock:
            if auth != "Bearer tok":
                self.problems.append(f"{sha256}: authorization {auth!r}")
            if hashlib.sha256(body).hexdigest() != sha256:
                self.problems.append(f"{sha256}: body does not match its hash")
            status = 503 if self.down else 500 if sha256 in self.fail_first else 201
            self.fail_first.discard(sha256)
            self.puts.append((time.monotonic(), sha256, status))
        return status

    def attempts(self, sha256: str) -> list[int]:
        with self.lock:
            return [status for _, sha, status in self.puts if sha == sha256]

    def stored_at(self, sha256: str) -> float:
        with self.lock:
            return next(t for t, sha, status in self.puts if sha == sha256 and status < 300)


@pytest.fixture
def central() -> Iterator[tuple[Central, str]]:
    state = Central()

    class Handler(BaseHTTPRequestHandler):
        def do_PUT(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            self.send_response(state.handle(self.path, body, self.headers.get("Authorization")))
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_media_are_uploaded_before_their_event_and_a_500_is_retried(
    tmp_path: Path, broker: Broker, recorder: Recorder, central: tuple[Central, str]
) -> None:
    server, url = central
    edge, store = start_edge(tmp_path, broker, central_url=url)
    try:
        snap = store.put_bytes(b"snapshot", MediaKind.snapshot, "image/jpeg")
        clip = store.put_bytes(b"clip", MediaKind.clip, "video/mp4")
        flaky = store.put_bytes(b"flaky", MediaKind.snapshot, "image/jpeg")
        gone = MediaRef(kind=MediaKind.clip, sha256="0" * 64, bytes=1, content_type="video/mp4")
        server.fail_first.add(flaky.sha256)
        first, second, third = make_event([snap, clip]), make_event([snap, flaky]), make_event([gone])
        for event in (first, second, third):
            edge.put(event)

        assert edge.delivery.wait_empty(timeout=15)
        assert recorder.wait_for(lambda got: len(got) >= 3, timeout=10)
        arrived = {str(Event.from_json(bytes(m.payload)).event_id): m.timestamp for m in recorder.snapshot()}
        assert arrived[str(first.event_id)] > max(
            server.stored_at(snap.sha256), server.stored_at(clip.sha256)
        )
        assert arrived[str(second.event_id)] > server.stored_at(flaky.sha256)
        assert server.attempts(flaky.sha256) == [500, 201]
        assert server.attempts(snap.sha256) == [201], "an uploaded file is not sent again"
        assert server.attempts(gone.sha256) == [], "missing evidence is skipped, not retried"
        assert str(third.event_id) in arrived
        assert server.problems == []
    finally:
        edge.close()


def test_without_a_central_url_uploading_is_a_no_op(tmp_path: Path) -> None:
    store = MediaStore(tmp_path / "media", max_bytes=1_000)
    missing = MediaRef(kind=MediaKind.clip, sha256="0" * 64, bytes=1, content_type="video/mp4")
    Uploader(CentralConfig(url=None), store).upload([missing])  # would raise MediaSkipped if it looked


def test_uploads_resume_within_the_configured_wait_once_the_central_service_is_back(
    tmp_path: Path, broker: Broker, recorder: Recorder, central: tuple[Central, str]
) -> None:
    """The back-off between upload tries is capped by ``central.retry_max_s``: after a long outage the
    next try comes within that, not after a wait that kept doubling (30 s and more)."""
    server, url = central
    server.down = True
    config = EdgeConfig.model_validate(
        {
            "device_id": DEVICE,
            "mqtt": {"url": broker.url},
            "storage": {"dir": str(tmp_path / "state")},
            "central": {"url": url, "token": "tok", "retry_max_s": 0.5},
            "cameras": [
                {
                    "id": "cam-1",
                    "source": "unused.mp4",
                    "zones": [{"id": "z", "polygon": [[0, 0], [1, 0], [1, 1]], "rules": {"dust": {}}}],
                }
            ],
        }
    )
    publishing = Publishing(config, media_store(config))
    publishing.start()
    try:
        snap = publishing.store.put_bytes(b"snapshot", MediaKind.snapshot, "image/jpeg")
        event = make_event([snap])
        publishing.put(event)
        # Doubling from 1 s, eight tries would take over two minutes; capped at 0.5 s, about four seconds.
        wait_until(
            lambda: len(server.attempts(snap.sha256)) >= 8, 20, "eight upload tries while the central is down"
        )
        server.down = False

        assert publishing.delivery.wait_empty(timeout=10)
        assert server.attempts(snap.sha256)[-1] == 201
        assert recorder.wait_for(lambda got: event_ids(got) == [str(event.event_id)], timeout=5)
    finally:
        publishing.stop()
