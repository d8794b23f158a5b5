"""How many events a second one central ingest process stores, on SQLite and on PostgreSQL.

    .venv/bin/python -m benchmarks.ingest [--events 3000] [--postgres URL] [--broker mqtt://HOST:PORT]
                                          [--out FILE.json]

Two measurements per database, each on a freshly migrated, empty database:

- ``direct``: ``Intake.events`` on batches of ``mqtt.batch_size``: validation plus one transaction
  per batch that stores it and files it into tickets. The ceiling of one process, without the broker.
- ``mqtt``: the same events published with QoS 1 to the broker and consumed through the shared
  subscription by ``MqttIngest`` in batches, each message acknowledged after its batch's commit.

``gridwatch-central bench-ingest`` measures the whole path with central processes and many edges;
this one keeps the figures of the issue that introduced batching comparable.

The workload is whole episodes (start, update, end) across many zones, so opening tickets,
episode pairing and merging all run. Prints a table and writes JSON
(default bench-results/ingest.json).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import paho.mqtt.client as mqtt
import sqlalchemy as sa
import yaml
from paho.mqtt.enums import CallbackAPIVersion

from central.bench_parts import EXTERNAL_WINDOW, database
from central.config import parse_config
from central.db import migrate
from central.ingest import Intake, Message
from central.ingest_mqtt import MqttIngest
from central.services import Services, build_services
from contract.event import Event
from contract.logs import configure_logging
from contract.topics import Topics

START = datetime(2026, 5, 1, 8, 0, tzinfo=UTC)
WINDOW = EXTERNAL_WINDOW
EXAMPLE = Path(__file__).resolve().parents[1] / "central.example.yaml"


def workload(count: int, topics: Topics) -> list[tuple[str, bytes]]:
    """``count`` events as (topic, payload): episodes of three across 50 cameras and 4 zones each."""
    messages = []
    for n in range(count // 3):
        camera, zone = f"cam-{n % 50}", f"zone-{(n // 50) % 4}"
        episode = str(uuid.uuid4())
        at = START + timedelta(minutes=n // 200 * 40)  # a new wave of tickets every 200 episodes
        for i, phase in enumerate(("start", "update", "end")):
            event = Event.model_validate(
                {
                    "event_id": uuid.uuid4(),
                    "phase": phase,
                    "type": "illegal_parking",
                    "device_id": "bench-box",
                    "camera_id": camera,
                    "zone_id": zone,
                    "started_at": at,
                    "observed_at": at + timedelta(seconds=i),
                    "confidence": 0.8,
                    "details": {"episode_id": episode, "district": "chongchuan"},
                }
            )
            messages.append((topics.events("bench-box"), event.to_json().encode()))
    return messages


def services_on(url: str, folder: Path, broker: str) -> Services:
    unique = uuid.uuid4().hex[:8]
    data = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    data.update({"data_dir": str(folder / unique), "database": {"url": url}})
    data["mqtt"].update(
        {
            "url": broker,
            "topic_prefix": f"bench-{unique}/gridwatch/v1",
            "group": f"bench-{unique}",
            "client_id": f"bench-{unique}",
            "session_expiry_s": 0,
        }
    )
    config = parse_config(data, "benchmark")
    services = build_services(config, with_ingest=False)
    migrate(services.engine)
    return services


def direct(services: Services, messages: list[tuple[str, bytes]]) -> float:
    size = services.config.mqtt.batch_size
    batches = [[Message(t, p) for t, p in messages[i : i + size]] for i in range(0, len(messages), size)]
    begin = time.perf_counter()
    for batch in batches:
        services.intake.events(batch)
    return time.perf_counter() - begin


def over_mqtt(services: Services, messages: list[tuple[str, bytes]]) -> float:
    ingest = MqttIngest(services.config.mqtt, services.intake)
    ingest.start()
    if not ingest.wait_subscribed(10):
        raise RuntimeError(f"ingest did not subscribe at {services.config.mqtt.url}")
    url = urlsplit(services.config.mqtt.url)
    publisher = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    publisher.max_inflight_messages_set(1000)
    publisher.connect(url.hostname or "127.0.0.1", url.port or 1883)
    publisher.loop_start()
    try:
        begin = time.perf_counter()
        for sent, (topic, payload) in enumerate(messages):
            while sent - _stored(services.intake) >= WINDOW:
                time.sleep(0.001)
            publisher.publish(topic, payload, qos=1)
        while _stored(services.intake) < len(messages):
            time.sleep(0.01)
        return time.perf_counter() - begin
    finally:
        publisher.disconnect()
        publisher.loop_stop()
        ingest.stop()


def _stored(intake: Intake) -> int:
    return sum(n for key, n in intake.counts().items() if key.startswith("events_"))


def check(services: Services, expected_events: int) -> dict[str, int]:
    with services.sessions() as session:
        events = session.scalar(sa.text("SELECT count(*) FROM events")) or 0
        tickets = session.scalar(sa.text("SELECT count(*) FROM tickets")) or 0
    if events != expected_events:
        raise RuntimeError(f"stored {events} events, expected {expected_events}")
    return {"events": events, "tickets": tickets}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=3000)
    parser.add_argument("--postgres", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    parser.add_argument("--broker", default="mqtt://127.0.0.1:1883")
    parser.add_argument("--out", type=Path, default=Path("bench-results/ingest.json"))
    args = parser.parse_args()
    configure_logging("warning")
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        for kind in ("sqlite", "postgresql"):
            for mode, run in (("direct", direct), ("mqtt", over_mqtt)):
                with database(None if kind == "sqlite" else args.postgres, Path(scratch)) as url:
                    services = services_on(url, Path(scratch), args.broker)
                    try:
                        messages = workload(args.events, Topics(services.config.mqtt.topic_prefix))
                        seconds = run(services, messages)
                        counts = check(services, len(messages))
                    finally:
                        services.close()
                rows.append(
                    {
                        "database": kind,
                        "path": mode,
                        "events": len(messages),
                        "tickets": counts["tickets"],
                        "seconds": round(seconds, 3),
                        "events_per_s": round(len(messages) / seconds, 1),
                    }
                )
    print(f"{'database':<11} {'path':<7} {'events':>7} {'tickets':>8} {'seconds':>8} {'events/s':>9}")
    for row in rows:
        print(
            f"{row['database']:<11} {row['path']:<7} {row['events']:>7} {row['tickets']:>8} "
            f"{row['seconds']:>8.2f} {row['events_per_s']:>9.1f}"
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps({"measured_at": datetime.now(UTC).isoformat(), "results": rows}, indent=2),
        encoding="utf-8",
    )
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
