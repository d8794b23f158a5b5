"""The outbox keeps order, ignores repeats, and loses nothing it confirmed, even to kill -9."""

from __future__ import annotations

import signal
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from contract.event import Event, EventType, MediaKind, MediaRef, Phase, new_event_id
from edge.delivery.outbox import Outbox

TOPIC = "gridwatch/v1/devices/dev-1/events"


def make_event(media: list[MediaRef] | None = None) -> Event:
    now = datetime.now(UTC)
    return Event(
        event_id=new_event_id(),
        phase=Phase.start,
        type=EventType.illegal_parking,
        device_id="dev-1",
        camera_id="cam-1",
        zone_id="zone-1",
        started_at=now,
        observed_at=now,
        confidence=0.9,
        media=media or [],
    )


def test_pending_is_oldest_first_and_remove_takes_one(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "outbox.db")
    events = [make_event() for _ in range(5)]
    for event in events:
        outbox.put(TOPIC, event)

    items = outbox.pending(10)
    assert [item.event_id for item in items] == [str(e.event_id) for e in events]
    assert Event.from_json(items[0].payload) == events[0]
    assert items[0].topic == TOPIC

    outbox.remove(items[1].seq)
    assert [i.event_id for i in outbox.pending(10)] == [str(e.event_id) for e in events[:1] + events[2:]]
    after_third = outbox.pending(2, after_seq=items[2].seq)
    assert [i.event_id for i in after_third] == [str(e.event_id) for e in events[3:]]
    assert outbox.count() == 4


def test_a_repeated_put_is_ignored(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "outbox.db")
    event = make_event()
    outbox.put(TOPIC, event)
    outbox.put(TOPIC, event)
    assert outbox.count() == 1


def test_media_refs_and_queue_survive_reopening(tmp_path: Path) -> None:
    ref = MediaRef(kind=MediaKind.clip, sha256="a" * 64, bytes=123, content_type="video/mp4", label="dwell")
    outbox = Outbox(tmp_path / "outbox.db")
    outbox.put(TOPIC, make_event([ref]))
    outbox.close()

    reopened = Outbox(tmp_path / "outbox.db")
    assert reopened.pending(1)[0].media == [ref]


def test_listeners_hear_new_events_only(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "outbox.db")
    heard: list[int] = []
    outbox.add_listener(lambda: heard.append(1))
    event = make_event()
    outbox.put(TOPIC, event)
    outbox.put(TOPIC, event)
    assert heard == [1]


_WRITER = """
import sys
from pathlib import Path
from edge.delivery.outbox import Outbox
from tests.edge.test_outbox import TOPIC, make_event

outbox = Outbox(Path(sys.argv[1]))
for _ in range(100_000):
    event = make_event()
    outbox.put(TOPIC, event)
    print("put", event.event_id, flush=True)
"""


def test_kill_9_mid_stream_loses_no_confirmed_event(tmp_path: Path) -> None:
    path = tmp_path / "outbox.db"
    root = Path(__file__).resolve().parents[2]
    confirmed: list[str] = []
    with subprocess.Popen(
        [sys.executable, "-c", _WRITER, str(path)], cwd=root, stdout=subprocess.PIPE, text=True
    ) as writer:
        assert writer.stdout is not None
        for line in writer.stdout:
            if line.startswith("put "):
                confirmed.append(line.split()[1])
            if len(confirmed) == 200:
                writer.send_signal(signal.SIGKILL)
                break
        confirmed += [line.split()[1] for line in writer.stdout if line.startswith("put ")]
    assert writer.returncode == -signal.SIGKILL, "the writer finished before it was killed"

    stored = [item.event_id for item in Outbox(path).pending(200_000)]
    assert len(confirmed) >= 200
    assert stored[: len(confirmed)] == confirmed
    assert len(stored) - len(confirmed) <= 1  # at most the one put in progress at the kill
