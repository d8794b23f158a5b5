"""A full evidence disk loses no event: on a real 20 MB file system that fills.

Evidence makes way first (oldest first, for free space as well as for ``max_gb``) and keeps a
floor of free space the outbox grows into; the outbox has a reserve file of its own for when
something else fills the disk; evidence that cannot be written leaves no temporary file, and the
event goes out with what it has, saying what is missing and why.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import secrets
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from contract.event import Event, EventType, IllegalParkingDetails, MediaKind, Phase, new_event_id
from contract.status import StorageState
from edge.analysis.detector import Detector
from edge.capture.frames import Frame
from edge.commands.analyze import _sink
from edge.commands.runtime import Publishing, evidence_writer, media_store
from edge.config import load_config
from edge.delivery.health import CameraHealthTracker
from edge.delivery.outbox import Outbox, OutboxFull
from edge.evidence.store import MediaStore
from edge.pipeline import CameraContext, CameraPipeline
from tests.edge.conftest import EdgeConfigFactory
from tests.edge.test_analyze_parking import KERB
from tests.edge.test_run_live import PARKED_ROW, TIME_LAPSE_PARKING, Subscriber
from tests.support.local_edge import LocalEdge
from tests.support.paths import HIGHWAY, PARKING_ROW
from tests.support.rtsp import RtspServer
from tests.support.scenes import Visit, write_scene
from tests.support.small_fs import MB, fill, free_bytes, small_filesystem

FS_MB = 20
TOPIC = "gridwatch/v1/devices/dev-1/events"


@pytest.fixture
def disk(tmp_path: Path) -> Iterator[Path]:
    with small_filesystem(tmp_path / "disk", FS_MB) as mounted:
        yield mounted


def temp_files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(".tmp-"))


def event(note_bytes: int = 2_000) -> Event:
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
        details=IllegalParkingDetails.model_validate({"note": secrets.token_hex(note_bytes // 2)}),
    )


def test_evidence_makes_way_for_the_free_space_floor_when_the_disk_is_smaller_than_the_cap(
    disk: Path,
) -> None:
    store = MediaStore(disk / "media", max_bytes=10**12, min_free_bytes=4 * MB)
    refs = []
    for _ in range(30):  # 30 MB through a 20 MB disk
        refs.append(store.put_bytes(secrets.token_bytes(MB), MediaKind.snapshot, "image/jpeg"))
        assert free_bytes(disk) >= 4 * MB

    kept = [store.path_of(ref.sha256) is not None for ref in refs]
    assert kept[-1]
    assert not kept[0]
    assert kept == sorted(kept), "evicted out of age order"
    assert store.total_bytes == sum(ref.bytes for ref, k in zip(refs, kept, strict=True) if k)
    assert temp_files(disk / "media") == []


@pytest.mark.parametrize("how", ["bytes", "file"])
def test_evidence_that_cannot_fit_is_refused_whole_and_evicts_nothing_in_vain(
    disk: Path,
    tmp_path: Path,
    how: str,
) -> None:
    store = MediaStore(disk / "media", 10**12)
    kept = store.put_bytes(b"k" * 100_000, MediaKind.snapshot, "image/jpeg")
    fill(disk)
    big = secrets.token_bytes(2 * MB)

    clip = tmp_path / "clip.mp4"  # written on another file system, as evidence clips are
    clip.write_bytes(big)

    def write() -> None:
        if how == "bytes":
            store.put_bytes(big, MediaKind.snapshot, "image/jpeg")
        else:
            store.put_file(clip, MediaKind.clip, "video/mp4")

    with pytest.raises(OSError, match="(?i)no space") as refused:
        write()

    assert refused.value.errno == errno.ENOSPC
    assert store.path_of(kept.sha256) is not None, "evicting it could not have made room: it must stay"
    assert temp_files(disk / "media") == [], "a failed write left its temporary file"


def test_a_write_that_fails_midway_removes_its_temporary_file(disk: Path) -> None:
    """Room was checked, then something else took it: ENOSPC mid-write leaves nothing behind."""
    store = MediaStore(disk / "media", 10**12)
    filler = fill(disk, leave=MB)
    store.free_bytes = lambda: 10 * MB  # type: ignore[method-assign]  # the race: room seen, gone at write

    with pytest.raises(OSError, match="(?i)no space") as failed:
        store.put_bytes(secrets.token_bytes(2 * MB), MediaKind.snapshot, "image/jpeg")

    assert failed.value.errno == errno.ENOSPC
    assert temp_files(disk / "media") == []
    filler.unlink()


def test_the_outbox_takes_and_removes_events_on_a_disk_that_something_else_filled(disk: Path) -> None:
    outbox = Outbox(disk / "state" / "outbox.sqlite3", reserve_bytes=2 * MB)
    assert outbox.reserve_intact
    filler = fill(disk)

    for _ in range(100):
        outbox.put(TOPIC, event())
    assert outbox.count() == 100
    assert not outbox.reserve_intact, "the reserve was released for the outbox"
    for item in outbox.pending(100):
        outbox.remove(item.seq)  # the PUBACK arrived: the row must go, even on a full disk
    assert outbox.count() == 0

    fill(disk)  # and fill again what the reserve gave back

    def fill_outbox() -> None:
        for _ in range(10_000):
            outbox.put(TOPIC, event())

    with pytest.raises(OutboxFull):
        fill_outbox()
    filler.unlink()
    outbox.put(TOPIC, event())
    for item in outbox.pending(10_000):
        outbox.remove(item.seq)
    assert outbox.reserve_intact, "the reserve is restored once there is room again"


def test_the_outbox_has_evidence_evicted_before_it_touches_its_reserve(disk: Path) -> None:
    store = MediaStore(disk / "state" / "media", 10**12)
    old = [store.put_bytes(secrets.token_bytes(MB), MediaKind.snapshot, "image/jpeg") for _ in range(6)]
    outbox = Outbox(disk / "state" / "outbox.sqlite3", reserve_bytes=2 * MB, make_room=store.free_up)
    fill(disk)

    for _ in range(200):
        outbox.put(TOPIC, event())

    assert outbox.count() == 200
    assert outbox.reserve_intact
    evicted = [store.path_of(ref.sha256) is None for ref in old]
    assert evicted[0], "oldest evidence first"
    assert evicted == sorted(evicted, reverse=True), "oldest evidence first"


def test_events_wait_in_the_pipeline_while_the_outbox_is_full_and_leave_in_order(
    disk: Path,
    tmp_path: Path,
    edge_config: EdgeConfigFactory,
    shared_media: Path,
) -> None:
    """With neither evidence nor a reserve to give, the outbox refuses; the pipeline keeps the
    event (and logs it in full) instead of crashing, and offers it again at the next frame."""
    scene = write_scene(
        tmp_path / "scene.mp4",
        HIGHWAY,
        [Visit(start=(330, 170), stop=(60, 250), arrive_at_s=0.5, drive_s=1, stay_s=4)],
        8,
    )
    config = load_config(
        edge_config(KERB, {"illegal_parking": {"dwell_s": 2, "grace_s": 1}}, source=str(scene))
    )
    outbox = Outbox(disk / "outbox.sqlite3")
    filler = fill(disk)
    offered: list[str] = []

    def sink(event: Event) -> None:
        offered.append(str(event.event_id))
        outbox.put(TOPIC, event)

    def free_after_a_refusal(frame: Frame) -> None:
        if offered and outbox.count() == 0 and filler.exists():
            filler.unlink()

    store = MediaStore(tmp_path / "media", 10**9)
    context = CameraContext(
        device_id="test-box",
        detector=Detector(config.model),
        tracker_yaml=config.model.tracker,
        evidence=evidence_writer(config, store),
        sink=sink,
    )
    pipeline = CameraPipeline(config.cameras[0], context, CameraHealthTracker("cam-1"))
    with capture_logs() as logs:
        pipeline.run(threading.Event(), live=False, start_ts=0.0, on_frame=free_after_a_refusal)

    queued = [Event.from_json(item.payload) for item in outbox.pending(10)]
    assert [e.phase for e in queued] == [Phase.start, Phase.end]
    assert offered[0] == offered[1] == str(queued[0].event_id), "the refused event was not offered again"
    held = [r for r in logs if r["event"] == "outbox full: event held in memory until it has room"]
    assert [Event.from_json(r["payload"]).event_id for r in held] == [queued[0].event_id]
    assert pipeline.events == 2


def old_evidence(media: Path, count: int) -> list[Path]:
    """Evidence from a previous run, 1 MB each, oldest first."""
    media.mkdir(parents=True)
    paths = []
    for i in range(count):
        data = secrets.token_bytes(MB)
        path = media / f"{hashlib.sha256(data).hexdigest()}.jpg"
        path.write_bytes(data)
        os.utime(path, (time.time() - 3600 + i, time.time() - 3600 + i))
        paths.append(path)
    return paths


def test_a_live_edge_on_a_filling_disk_keeps_sending_every_event(
    disk: Path,
    tmp_path: Path,
    model_path: Path,
) -> None:
    state = disk / "state"
    old = old_evidence(state / "media", 2)
    fill(disk, leave=8 * MB)
    prefix = f"gridwatch-test/{uuid.uuid4().hex[:8]}"
    subscriber = Subscriber(prefix)
    with RtspServer({"parking": PARKING_ROW}, loop_count=60) as camera:
        edge = LocalEdge(
            tmp_path,
            {
                "device_id": "disk-box",
                "central": {"url": None},
                "mqtt": {"url": "mqtt://127.0.0.1:1883", "topic_prefix": prefix, "status_interval_s": 1},
                "model": {"path": str(model_path)},
                "storage": {"dir": str(state), "max_gb": 100, "min_free_mb": 6, "outbox_reserve_mb": 1},
                "evidence": {"pre_s": 2, "post_s": 2},
                "cameras": [
                    {
                        "id": "parking",
                        "source": camera.url("parking"),
                        "analysis_fps": 5,
                        "zones": [
                            {
                                "id": "row",
                                "polygon": PARKED_ROW,
                                "rules": {"illegal_parking": TIME_LAPSE_PARKING},
                            }
                        ],
                    }
                ],
            },
        )
        try:
            # The disk, not max_gb, limits evidence: last run's evidence makes way, oldest first.
            def starts() -> list[Event]:
                return [e for e in subscriber.events if e.phase is Phase.start]

            edge.wait(
                lambda: edge.alive() and not old[0].exists() and starts(),
                120,
                "the oldest evidence evicted for free space",
            )
            assert all(
                sorted(m.label or "" for m in e.media) == ["arrival", "clip", "dwell"] for e in starts()
            )
            assert free_bytes(disk) >= 5 * MB
            storage = edge.wait(
                lambda: subscriber.status and subscriber.status[-1].storage, 10, "storage status"
            )
            assert storage.state in {StorageState.ok, StorageState.low}
            assert storage.evidence_bytes > 0
            assert abs(storage.free_bytes - free_bytes(disk)) < 4 * MB

            # Something else fills the disk: events still leave, saying what evidence they lack.
            fill(disk)
            filled_at = len(subscriber.events)

            def lacking() -> list[Event]:
                return [
                    e
                    for e in subscriber.events[filled_at:]
                    if e.phase is Phase.start and e.details.missing_media
                ]

            edge.wait(
                lambda: edge.alive() and len(lacking()) >= 2, 90, "events without evidence on a full disk"
            )
            missing = lacking()[-1].details.missing_media
            assert {m.kind for m in missing} == {MediaKind.snapshot, MediaKind.clip}
            assert all("space" in m.reason for m in missing)
            edge.wait(
                lambda: (
                    (s := subscriber.status[-1]).storage is not None
                    and s.storage.state is StorageState.full
                    and s.outbox_pending == 0
                ),
                15,
                "a full disk in the status, with every event acknowledged and removed",
            )
            assert temp_files(state / "media") == []
            assert not [r for r in edge.records() if r.get("event") == "camera pipeline crashed; restarting"]
        finally:
            code = edge.stop()
            subscriber.close()
    assert code == 0, edge.tail()


def test_analyze_writes_an_event_offered_again_after_a_full_outbox_once(
    disk: Path, edge_config: EdgeConfigFactory, tmp_path: Path
) -> None:
    """`analyze --publish` writes the events file first; the pipeline re-offers an event the full outbox
    refused, and the file must still hold it once."""
    path = edge_config(
        KERB,
        {"illegal_parking": {"dwell_s": 2}},
        storage={"dir": str(disk / "state"), "outbox_reserve_mb": 0, "min_free_mb": 0},
    )
    config = load_config(path)
    publishing = Publishing(config, media_store(config, None))
    events_out = tmp_path / "events.jsonl"
    filler = fill(disk)
    offered = [event(note_bytes=20_000) for _ in range(20)]
    with events_out.open("w", encoding="utf-8") as out:
        put = _sink(out, publishing)
        taken: list[Event] = []

        def offer_all() -> None:
            for e in offered:
                put(e)
                taken.append(e)

        with pytest.raises(OutboxFull):
            offer_all()
        refused = len(taken)
        filler.unlink()
        for e in offered[refused:]:
            put(e)
    written = [json.loads(line)["event_id"] for line in events_out.read_text(encoding="utf-8").splitlines()]
    assert written == [str(e.event_id) for e in offered]
    assert publishing.outbox.count() == len(offered)
