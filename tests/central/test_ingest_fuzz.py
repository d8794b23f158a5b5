"""Generated and mutated messages through ingest: it never dies, and each message is counted exactly once.

Hypothesis builds event and status messages (valid ones, ones with values a hostile device would
try, and byte-level mutations of both); 10,000 go straight into ``Intake`` on a real database, the
way ``MqttIngest`` hands them over, and a smaller batch travels through the real Mosquitto. The
examples are derandomised, so a run is repeatable, never flaky; there is no shrinking, because the
database keeps what earlier examples stored and a smaller batch would not fail the same way.
"""

from __future__ import annotations

import json
import random
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from paho.mqtt.enums import CallbackAPIVersion

from central.config import CentralConfig
from central.ingest import Intake, Outcome
from central.ingest_mqtt import MqttIngest
from central.models import Event as EventRow
from central.models import Ticket
from central.services import Services
from contract.topics import Topics
from tests.central.conftest import START, central_config
from tests.central.waiting import wait_until

DEVICES = ("box-1", "box-2", "box-3")
SHARED_CAMERAS = ("cam-1", "cam-2")
"""Camera ids every device names now and then: the first to report one owns it, the others are refused."""
EVENT_IDS = [str(uuid.UUID(int=n)) for n in range(1, 40)]
"""A small pool, so that redeliveries (duplicates) happen as well as new events."""
EPISODES = [f"ep-{n}" for n in range(8)]
SETTINGS = settings(
    derandomize=True,
    database=None,
    deadline=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.large_base_example,
        HealthCheck.function_scoped_fixture,
    ],
)

json_leaves = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=12)
json_values = st.recursive(
    json_leaves,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=10,
)
zones = st.sampled_from(
    [
        UTC,
        timezone(timedelta(hours=8)),
        timezone(timedelta(hours=-11, minutes=-30)),
        timezone(timedelta(hours=14)),
    ]
)
timestamps = st.datetimes(
    min_value=START.replace(tzinfo=None) - timedelta(hours=2),
    max_value=START.replace(tzinfo=None) + timedelta(hours=2),
    timezones=zones,
).map(datetime.isoformat)
media = st.fixed_dictionaries(
    {
        "kind": st.sampled_from(["snapshot", "clip"]),
        "sha256": st.sampled_from(["a" * 64, "b" * 64]),
        "bytes": st.integers(min_value=0, max_value=10**9),
        "content_type": st.sampled_from(["image/jpeg", "video/mp4"]),
    },
    optional={"label": st.text(max_size=64).filter(lambda text: "\x00" not in text)},
)
details = st.fixed_dictionaries(
    {},
    optional={
        "episode_id": st.sampled_from(EPISODES),
        "district": st.sampled_from(["chongchuan", "gangzha", "haimen"]),
        "site": st.sampled_from(["site-7", "site-8"]),
        "camera_name": st.text(max_size=30),
        "location": st.fixed_dictionaries({"lat": st.floats(-90, 90), "lon": st.floats(-180, 180)}),
        "bbox": st.lists(st.floats(0, 1), max_size=4),
        "extra": json_values,
    },
)


def own_or_shared_cameras(device: str) -> st.SearchStrategy[str]:
    return st.sampled_from([f"{device}-cam-1", f"{device}-cam-2"]) | st.sampled_from(SHARED_CAMERAS)


@st.composite
def event_dicts(draw: st.DrawFn) -> dict[str, Any]:
    """A valid event: the mutations below break it."""
    device = draw(st.sampled_from(DEVICES))
    return {
        "schema": "gridwatch.event/1",
        "event_id": draw(st.sampled_from(EVENT_IDS)),
        "phase": draw(st.sampled_from(["start", "start", "update", "end"])),
        "type": draw(st.sampled_from(["illegal_parking", "dust", "illegal_building"])),
        "device_id": device,
        "camera_id": draw(own_or_shared_cameras(device)),
        "zone_id": draw(st.sampled_from(["z1", "z2"])),
        "started_at": draw(timestamps),
        "observed_at": draw(timestamps),
        "ended_at": draw(st.none() | timestamps),
        "confidence": draw(st.floats(min_value=0, max_value=1)),
        "details": draw(details),
        "media": draw(st.lists(media, max_size=3)),
    }


@st.composite
def status_dicts(draw: st.DrawFn) -> dict[str, Any]:
    """A valid status: the mutations below break it."""
    device = draw(st.sampled_from(DEVICES))
    camera = st.fixed_dictionaries(
        {
            "camera_id": own_or_shared_cameras(device),
            "state": st.sampled_from(["streaming", "backoff"]),
        },
        optional={
            "district": st.sampled_from(["chongchuan", "gangzha"]),
            "name": st.text(max_size=30),
            "fps": st.floats(0, 60),
            "last_frame_at": timestamps,
            "reconnects": st.integers(0, 1000),
            "last_error": st.text(max_size=20).filter(lambda text: "\x00" not in text),
        },
    )
    return {
        "schema": "gridwatch.status/1",
        "state": draw(st.sampled_from(["online", "offline"])),
        "device_id": device,
        "sent_at": draw(timestamps),
        "outbox_pending": draw(st.integers(min_value=0, max_value=100)),
        "cameras": draw(st.lists(camera, max_size=3)),
    }


NAN = float("nan")
HOSTILE: list[Any] = [
    None,
    True,
    -1,
    2**64,
    1e308,
    NAN,
    "",
    "\x00",
    "\u202e",
    "9" * 5000,
    [],
    {},
    [[[]]],
    {"$gt": ""},
    "../../etc/passwd",
    "<script>",
    "x" * 300,
]
ODD_TIMES = [
    "0001-01-01T00:00:00Z",
    "0001-01-01T00:30:00+01:00",
    "9999-12-31T23:59:59Z",
    "9999-12-31T23:00:00-05:00",
    "1969-12-31T23:59:59Z",
    "2100-01-01T00:00:00Z",
    "2026-05-01T08:00:00",
    "2026-02-30T08:00:00Z",
    "now",
]
ODD_IDS = ["", "x" * 129, "cam/1", "cam\x00", "cam 1", "相机-1", "cam-1\n"]
ODD: dict[str, list[Any]] = {
    "started_at": ODD_TIMES,
    "observed_at": ODD_TIMES,
    "ended_at": ODD_TIMES,
    "sent_at": ODD_TIMES,
    "camera_id": ODD_IDS,
    "device_id": ODD_IDS,
    "zone_id": ODD_IDS,
    "event_id": ["1", str(uuid.UUID(int=0)) + "0"],
    "confidence": [-0.1, 1.1, NAN, float("inf"), "0.5"],
    "phase": ["begin", "START"],
    "type": ["graffiti"],
    "schema": ["gridwatch.event/2", "gridwatch.status/9"],
    "state": ["lost"],
    "outbox_pending": [-1, 2**40],
    "details": [
        {"location": {"lat": NAN, "lon": 1e400}},
        {"district": "d" * 65, "site": {"x": 1}},
        {"camera_name": "\x00"},
        {"bbox": [float("inf")]},
        {"episode_id": ["e"]},
    ],
    "media": [
        [{"kind": "thumbnail", "sha256": "a" * 64, "bytes": 1, "content_type": "image/jpeg"}],
        [{"kind": "clip", "sha256": "A" * 64, "bytes": 1, "content_type": "video/mp4"}],
        [{"kind": "clip", "sha256": "a" * 64, "bytes": 2**70, "content_type": "video/mp4"}],
        [{"kind": "clip", "sha256": "a" * 64, "bytes": 1, "content_type": "text/html", "label": "\x00"}],
    ]
    + [[{"kind": "clip", "sha256": "a" * 64, "bytes": 1, "content_type": "video/mp4"}] * 33],
    "cameras": [[{"camera_id": odd, "state": "streaming"}] for odd in ODD_IDS]
    + [
        [{"camera_id": "cam-1", "state": "streaming", **odd}]
        for odd in (
            {"name": "n" * 257},
            {"district": "\x00"},
            {"fps": NAN},
            {"fps": -1},
            {"reconnects": 2**40},
            {"last_frame_at": "9999-12-31T23:59:59+14:00"},
            {"last_error": "\x00"},
            {"state": "broken"},
        )
    ],
}
"""Values a buggy or hostile sender puts in one field, beside the ``HOSTILE`` ones that fit any field."""


def mutate(message: dict[str, Any], rng: random.Random) -> bytes:
    """The message as it is, or broken the ways a buggy or hostile sender breaks it."""
    if "event_id" in message and rng.random() < 0.8:
        message = {**message, "event_id": str(uuid.UUID(int=rng.getrandbits(128)))}
    how = rng.choice(
        ["as-is"] * 8
        + ["odd"] * 4
        + ["hostile", "drop", "extra", "truncate", "flip", "splice", "garbage", "wrap", "deep"]
    )
    key = rng.choice(sorted(message))
    if how == "odd":
        message = {**message, key: rng.choice(ODD.get(key, HOSTILE))}
    elif how == "hostile":
        message = {**message, key: rng.choice(HOSTILE)}
    elif how == "drop":
        message = {k: v for k, v in message.items() if k != key}
    elif how == "extra":
        message = {**message, f"x{rng.randrange(100)}": rng.choice(HOSTILE)}
    elif how == "wrap":
        return json.dumps([message]).encode()
    elif how == "garbage":
        return rng.randbytes(rng.randrange(64))
    elif how == "deep":  # valid JSON nested far past any recursion limit, where a details value goes
        depth = rng.randrange(100, 20_000)
        held = {**message, "details": {"deep": "DEEP"}}
        return json.dumps(held).replace('"DEEP"', "[" * depth + "]" * depth).encode()
    payload = json.dumps(message, default=str).encode()
    at = rng.randrange(len(payload))
    if how == "truncate":
        return payload[:at]
    if how == "flip":
        return payload[:at] + bytes([payload[at] ^ rng.randrange(1, 256)]) + payload[at + 1 :]
    if how == "splice":
        return payload[:at] + rng.randbytes(rng.randrange(1, 16)) + payload[at:]
    return payload


class Batch(list[tuple[str, str, bytes]]):
    """Messages whose repr stays short: a failure names the one message that broke, not all of them."""

    def __repr__(self) -> str:
        return f"<{len(self)} messages>"


@st.composite
def batches(draw: st.DrawFn, size: int = 10) -> Batch:
    """One generated message and ``size`` mutants of it (kind, topic device, payload): mostly on their own
    device's topic, some on another's. Hypothesis draws the message; a seeded Random, drawn too, mutates
    it, which is far quicker than drawing every mutation."""
    kind = draw(st.sampled_from(["events"] * 5 + ["status"]))
    message = draw(event_dicts() if kind == "events" else status_dicts())
    rng = draw(st.randoms(use_true_random=True))
    return Batch(
        (kind, message["device_id"] if rng.random() < 0.9 else rng.choice(DEVICES), mutate(message, rng))
        for _ in range(size)
    )


UNEXPECTED = (Outcome.failed, Outcome.deferred)
"""A bug (an error nobody foresaw) and a database outage: neither may come of a message's content."""


def handler(intake: Intake, topics: Topics) -> Callable[[str, str, bytes], Outcome]:
    """What ``MqttIngest`` does with a message it receives; an error or an unexpected outcome names the message."""

    def handle(kind: str, device: str, payload: bytes) -> Outcome:
        try:
            if kind == "status":
                outcome = intake.status(topics.status(device), payload)
            else:
                outcome = intake.event(topics.events(device), payload)
        except Exception as err:
            raise AssertionError(
                f"ingest raised on a {kind} message from {device}: {payload[:2000]!r}"
            ) from err
        assert outcome not in UNEXPECTED, (
            f"{outcome.value}: a {kind} message from {device}: {payload[:2000]!r}"
        )
        return outcome

    return handle


def per_message(counts: dict[str, int]) -> Counter[str]:
    """The counters that count messages (``cameras_refused`` counts cameras inside status messages)."""
    return Counter({k: n for k, n in counts.items() if k.startswith(("events_", "status_"))})


def check_the_database_agrees(services: Services) -> None:
    with services.sessions() as session:
        stored = session.scalar(sa.select(sa.func.count()).select_from(EventRow))
        filed = session.scalar(
            sa.select(sa.func.count()).select_from(EventRow).where(EventRow.ticket_id.is_not(None))
        )
        on_tickets = session.scalar(sa.select(sa.func.coalesce(sa.func.sum(Ticket.event_count), 0)))
    assert stored == services.intake.counts().get("events_stored", 0)
    assert filed == on_tickets, "each ticket counts exactly the events filed on it"


def test_ten_thousand_generated_messages_are_each_counted_once_and_ingest_never_dies(
    services: Services,
) -> None:
    handle = handler(services.intake, Topics())
    fed: list[int] = []

    @settings(SETTINGS, max_examples=1000)
    @given(batches())
    def feed(batch: Batch) -> None:
        before = per_message(services.intake.counts())
        outcomes = Counter(f"{kind}_{handle(kind, device, payload).value}" for kind, device, payload in batch)
        assert per_message(services.intake.counts()) - before == outcomes
        fed.append(len(batch))

    feed()
    assert sum(fed) == 10_000
    counts = per_message(services.intake.counts())
    assert counts.total() == 10_000
    assert {
        "events_stored",
        "events_duplicate",
        "events_malformed",
        "events_refused",
        "status_stored",
        "status_malformed",
    } <= set(counts), counts
    check_the_database_agrees(services)


@pytest.fixture
def broker_config(database_url: str, tmp_path: Path) -> CentralConfig:
    return central_config(
        database_url, tmp_path, **{"mqtt.topic_prefix": f"t-{uuid.uuid4().hex[:8]}/gridwatch/v1"}
    )


@pytest.fixture
def running(broker_config: CentralConfig, services: Services) -> Iterator[MqttIngest]:
    intake = Intake(
        services.sessions,
        services.desk,
        services.clock,
        Topics(broker_config.mqtt.topic_prefix),
        broker_config.mqtt.max_payload_bytes,
    )
    ingest = MqttIngest(broker_config.mqtt, intake)
    ingest.start()
    assert ingest.wait_subscribed(10), "ingest did not subscribe"
    yield ingest
    ingest.stop()


def test_generated_messages_through_mosquitto_are_each_counted_once(
    broker_config: CentralConfig, running: MqttIngest
) -> None:
    topics = Topics(broker_config.mqtt.topic_prefix)
    publisher = mqtt.Client(
        CallbackAPIVersion.VERSION2, client_id=f"fuzz-{uuid.uuid4().hex[:8]}", protocol=mqtt.MQTTv5
    )
    publisher.connect("127.0.0.1", 1883)
    publisher.loop_start()
    sent: list[int] = []

    @settings(SETTINGS, max_examples=50)
    @given(batches())
    def publish(batch: Batch) -> None:
        before = per_message(running.intake.counts()).total()
        for kind, device, payload in batch:
            topic = topics.status(device) if kind == "status" else topics.events(device)
            publisher.publish(topic, payload, qos=1).wait_for_publish(10)
        assert wait_until(lambda: per_message(running.intake.counts()).total() == before + len(batch), 30), (
            running.intake.counts()
        )
        sent.append(len(batch))

    try:
        publish()
    finally:
        publisher.disconnect()
        publisher.loop_stop()
    counts = per_message(running.intake.counts())
    assert counts.total() == sum(sent) == 500
    assert not {f"{kind}_{outcome.value}" for kind in ("events", "status") for outcome in UNEXPECTED} & set(
        counts
    )
    assert running.wait_subscribed(0), "ingest is still subscribed"


@pytest.mark.parametrize(
    "when",
    [
        "0001-01-01T00:00:00Z",
        "0001-01-01T00:30:00+01:00",
        "9999-12-31T23:59:59Z",
        "9999-12-31T23:00:00-05:00",
        "1969-12-31T23:59:59Z",
        "2100-01-01T00:00:00Z",
    ],
)
@pytest.mark.parametrize("field", ["started_at", "observed_at", "ended_at"])
def test_a_timestamp_outside_the_contracts_years_is_refused_as_malformed(
    services: Services, when: str, field: str
) -> None:
    message = {
        "event_id": str(uuid.uuid4()),
        "phase": "end",
        "type": "dust",
        "device_id": "box-1",
        "camera_id": "cam-1",
        "zone_id": "z1",
        "started_at": START.isoformat(),
        "observed_at": START.isoformat(),
        "ended_at": START.isoformat(),
        "confidence": 0.5,
        field: when,
    }
    assert services.intake.event(Topics().events("box-1"), json.dumps(message).encode()) is Outcome.malformed
    assert services.intake.counts() == {"events_malformed": 1}


def test_the_contracts_years_still_take_an_edge_with_an_unset_clock(services: Services) -> None:
    """A box whose clock fell back to 1970 still gets its events filed: lost evidence is worse than a bad time."""
    at = datetime(1970, 1, 1, tzinfo=UTC).isoformat()
    message = {
        "event_id": str(uuid.uuid4()),
        "phase": "start",
        "type": "dust",
        "device_id": "box-1",
        "camera_id": "cam-1",
        "zone_id": "z1",
        "started_at": at,
        "observed_at": at,
        "confidence": 0.5,
    }
    assert services.intake.event(Topics().events("box-1"), json.dumps(message).encode()) is Outcome.stored
