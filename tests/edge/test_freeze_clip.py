"""A box frozen for longer than its packet ring (SIGSTOP, heavy swapping) still sends its clips.

The events whose post-roll was being recorded when the edge froze leave as soon as it thaws;
their clip must be cut from the packets the ring held before the freeze. Before the ring measured
its age in received video, the first packet after the gap aged all of them out (16 events of a
30 s SIGSTOP left with 2 media instead of 3).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import av
import pytest
import yaml

from contract.event import Event, MediaKind
from tests.edge.test_run_live import PARKED_ROW, TIME_LAPSE_PARKING, Subscriber
from tests.support.paths import PARKING_ROW, ROOT
from tests.support.rtsp import RtspServer
from tests.support.stack import wait_until

PRE_S, POST_S = 2.0, 8.0
FREEZE_S = 24.0
"""Longer than the ring (pre + post + 10 s = 20 s), so the first packet after it trimmed everything."""


class Edge:
    """``gridwatch-edge run`` with JSON debug logs in a file, read while it runs."""

    def __init__(self, folder: Path, config: dict[str, Any]) -> None:
        path = folder / "edge.yaml"
        path.write_text(yaml.safe_dump(config))
        self.log_path = folder / "edge.log"
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "edge", "--log-json", "--log-level", "debug", "run", "--config", str(path)],
                cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"})

    def records(self, event: str) -> list[dict[str, Any]]:
        lines = self.log_path.read_text(errors="replace").splitlines()
        return [r for r in (json.loads(line) for line in lines if line.startswith("{")) if r.get("event") == event]

    def tail(self) -> str:
        return self.log_path.read_text(errors="replace")[-3000:]

    def wait(self, condition: Callable[[], Any], timeout: float, what: str) -> Any:
        """``wait_until``, with the edge's latest log lines in the failure."""
        try:
            return wait_until(condition, timeout, what)
        except AssertionError as err:
            raise AssertionError(f"{err}\n{self.tail()}") from None

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@pytest.fixture
def running(tmp_path: Path, model_path: Path) -> Iterator[tuple[Edge, Subscriber, Path]]:
    prefix = f"gridwatch-test/{uuid.uuid4().hex[:8]}"
    with RtspServer({"parking": PARKING_ROW}, loop_count=60) as camera:
        config = {
            "device_id": "freeze-box", "central": {"url": None},
            "mqtt": {"url": "mqtt://127.0.0.1:1883", "topic_prefix": prefix, "status_interval_s": 1},
            "model": {"path": str(model_path)}, "storage": {"dir": str(tmp_path / "state")},
            "evidence": {"pre_s": PRE_S, "post_s": POST_S},
            "cameras": [{
                "id": "parking", "source": camera.url("parking"), "analysis_fps": 5,
                "reader": {"connect_timeout_s": 3, "stall_timeout_s": 3, "backoff_initial_s": 0.5,
                           "backoff_max_s": 2},
                "zones": [{"id": "row", "polygon": PARKED_ROW, "rules": {"illegal_parking": TIME_LAPSE_PARKING}}],
            }],
        }
        subscriber = Subscriber(prefix)
        edge = Edge(tmp_path, config)
        try:
            yield edge, subscriber, tmp_path / "state" / "media"
        finally:
            edge.stop()
            subscriber.close()


def test_events_waiting_for_their_post_roll_at_a_freeze_keep_their_clip(
    running: tuple[Edge, Subscriber, Path],
) -> None:
    edge, subscriber, media = running
    waiting = edge.wait(lambda: edge.process.poll() is None and edge.records("event waits for its post-roll"),
                        120, "a finding waiting for its clip's post-roll")
    edge.process.send_signal(signal.SIGSTOP)
    frozen_at = time.time()
    time.sleep(FREEZE_S)
    edge.process.send_signal(signal.SIGCONT)

    def caught(event: Event) -> bool:
        return event.observed_at.timestamp() <= frozen_at and event.phase.value == "start"

    episode = waiting[0]["episode"]
    edge.wait(lambda: any(e.details["episode_id"] == episode for e in subscriber.events), 30,
              "the event that waited through the freeze")
    time.sleep(1.0)  # the others that waited leave in the same flush
    frozen = [e for e in subscriber.events if caught(e) and e.observed_at.timestamp() > frozen_at - POST_S]
    assert frozen, "no event was waiting for its post-roll at the freeze"
    for event in frozen:
        clips = [m for m in event.media if m.kind is MediaKind.clip]
        assert clips, f"event {event.event_id} left without its clip: {event.details.get('missing_media')}"
        with av.open(str(media / f"{clips[0].sha256}.mp4")) as clip:
            assert clip.duration is not None and clip.duration / av.time_base >= PRE_S - 0.5
            assert sum(1 for _ in clip.decode(video=0)) > 0
