"""A box frozen for longer than its packet ring (SIGSTOP, heavy swapping) still sends its clips.

The events whose post-roll was being recorded when the edge froze leave as soon as it thaws;
their clip must be cut from the packets the ring held before the freeze. Before the ring measured
its age in received video, the first packet after the gap aged all of them out (16 events of a
30 s SIGSTOP left with 2 media instead of 3).
"""

from __future__ import annotations

import signal
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import av
import pytest

from contract.event import Event, MediaKind
from tests.edge.test_run_live import PARKED_ROW, TIME_LAPSE_PARKING, Subscriber
from tests.support.local_edge import LocalEdge
from tests.support.paths import PARKING_ROW
from tests.support.rtsp import RtspServer

PRE_S, POST_S = 2.0, 8.0
FREEZE_S = 24.0
"""Longer than the ring (pre + post + 10 s = 20 s), so the first packet after it trimmed everything."""


@pytest.fixture
def running(tmp_path: Path, model_path: Path) -> Iterator[tuple[LocalEdge, Subscriber, Path]]:
    prefix = f"gridwatch-test/{uuid.uuid4().hex[:8]}"
    with RtspServer({"parking": PARKING_ROW}, loop_count=60) as camera:
        config = {
            "device_id": "freeze-box",
            "central": {"url": None},
            "mqtt": {"url": "mqtt://127.0.0.1:1883", "topic_prefix": prefix, "status_interval_s": 1},
            "model": {"path": str(model_path)},
            "storage": {"dir": str(tmp_path / "state")},
            "evidence": {"pre_s": PRE_S, "post_s": POST_S},
            "cameras": [
                {
                    "id": "parking",
                    "source": camera.url("parking"),
                    "analysis_fps": 5,
                    "reader": {
                        "connect_timeout_s": 3,
                        "stall_timeout_s": 3,
                        "backoff_initial_s": 0.5,
                        "backoff_max_s": 2,
                    },
                    "zones": [
                        {"id": "row", "polygon": PARKED_ROW, "rules": {"illegal_parking": TIME_LAPSE_PARKING}}
                    ],
                }
            ],
        }
        subscriber = Subscriber(prefix)
        edge = LocalEdge(tmp_path, config, debug=True)
        try:
            yield edge, subscriber, tmp_path / "state" / "media"
        finally:
            edge.stop()
            subscriber.close()


def test_events_waiting_for_their_post_roll_at_a_freeze_keep_their_clip(
    running: tuple[LocalEdge, Subscriber, Path],
) -> None:
    edge, subscriber, media = running
    waiting = edge.wait(
        lambda: edge.process.poll() is None and edge.records("event waits for its post-roll"),
        120,
        "a finding waiting for its clip's post-roll",
    )
    edge.process.send_signal(signal.SIGSTOP)
    frozen_at = time.time()
    time.sleep(FREEZE_S)
    edge.process.send_signal(signal.SIGCONT)

    def caught(event: Event) -> bool:
        return event.observed_at.timestamp() <= frozen_at and event.phase.value == "start"

    episode = waiting[0]["episode"]
    edge.wait(
        lambda: any(e.details.episode_id == episode for e in subscriber.events),
        30,
        "the event that waited through the freeze",
    )
    time.sleep(1.0)  # the others that waited leave in the same flush
    frozen = [e for e in subscriber.events if caught(e) and e.observed_at.timestamp() > frozen_at - POST_S]
    assert frozen, "no event was waiting for its post-roll at the freeze"
    for event in frozen:
        clips = [m for m in event.media if m.kind is MediaKind.clip]
        assert clips, f"event {event.event_id} left without its clip: {event.details.missing_media}"
        with av.open(str(media / f"{clips[0].sha256}.mp4")) as clip:
            assert clip.duration is not None
            assert clip.duration / av.time_base >= PRE_S - 0.5
            assert sum(1 for _ in clip.decode(video=0)) > 0
