"""The reader over recordings (media time, sampling, keyframes) and over a real RTSP server
(wall-clock time, reconnects after a restart, stall watchdog, prompt stop)."""

from __future__ import annotations

import itertools
import socket
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import av
import numpy as np
import pytest
from structlog.testing import capture_logs

from contract.status import CameraState
from edge.capture.frames import Frame
from edge.capture.reader import Reader, ReaderError, mask_credentials
from edge.config import CameraConfig, ReaderConfig
from edge.delivery.health import CameraHealthTracker
from tests.support import paths
from tests.support.rtsp import RtspServer

HIGHWAY_S = 30.5667
HIGHWAY_CREATED = datetime(2019, 4, 1, 18, 23, 53, tzinfo=UTC).timestamp()
LIVE = ReaderConfig(connect_timeout_s=2, stall_timeout_s=2, backoff_initial_s=0.2, backoff_max_s=1)


def read_all(
    source: Path | str, fps: float = 1.0, settings: ReaderConfig | None = None, start_ts: float | None = 0.0
) -> list[Frame]:
    reader = Reader(
        "cam-test",
        str(source),
        settings or ReaderConfig(),
        analysis_fps=fps,
        live=False,
        health=CameraHealthTracker("cam-test"),
        start_ts=start_ts,
    )
    return list(reader.frames(threading.Event()))


def pts_seconds(path: Path) -> list[float]:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        return [
            float(p.pts * p.time_base)
            for p in container.demux(stream)
            if p.pts is not None and p.time_base is not None
        ]


def live_reader(url: str, health: CameraHealthTracker, fps: float = 5.0) -> Reader:
    return Reader(health.camera_id, url, LIVE, analysis_fps=fps, live=True, health=health)


def wait_until(condition: Callable[[], bool], timeout: float) -> float:
    """Seconds until ``condition()`` held; fails the test after ``timeout``."""
    started = time.monotonic()
    while not condition():
        assert time.monotonic() - started < timeout, f"condition not met within {timeout} s"
        time.sleep(0.05)
    return time.monotonic() - started


@pytest.fixture
def stop() -> Iterator[threading.Event]:
    """A stop event that a watchdog sets after 60 s, so a reader that never yields cannot hang the run."""
    event = threading.Event()
    watchdog = threading.Timer(60, event.set)
    watchdog.start()
    yield event
    event.set()
    watchdog.cancel()


EVERY_FRAME = ReaderConfig(keyframes_only=False)


@pytest.mark.parametrize("fps", [1.0, 2.5])
def test_recording_is_sampled_at_analysis_fps_in_media_time(shared_media: Path, fps: float) -> None:
    frames = read_all(paths.HIGHWAY, fps, settings=EVERY_FRAME, start_ts=1000.0)

    assert len(frames) == pytest.approx(HIGHWAY_S * fps, abs=1)
    stamps = [f.ts for f in frames]
    assert stamps[0] == 1000.0
    assert all(b - a == pytest.approx(1 / fps, abs=1 / 30 + 1e-6) for a, b in itertools.pairwise(stamps))
    source = pts_seconds(paths.HIGHWAY)
    assert all(min(abs(ts - 1000.0 - pts) for pts in source) < 1e-6 for ts in stamps), "ts != start_ts + pts"
    assert frames[0].image.shape == (360, 640, 3)
    assert frames[0].image.dtype == np.uint8


def test_recording_time_starts_at_its_creation_time_or_zero(shared_media: Path, tmp_path: Path) -> None:
    assert read_all(paths.HIGHWAY, fps=0.1, start_ts=None)[0].ts == HIGHWAY_CREATED

    untimed = tmp_path / "untimed.mp4"
    with av.open(str(untimed), "w") as output:  # PyAV writes no creation_time unless told to
        stream = output.add_stream("libx264", rate=10, width=64, height=64)
        for i in range(10):
            image = np.full((64, 64, 3), i * 20, np.uint8)
            output.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="bgr24")))
        output.mux(stream.encode(None))
    # Also a float trap: 0.2 + 0.2 + 0.2 > 0.6, and the frame at 0.6 s must still be taken.
    assert [f.ts for f in read_all(untimed, fps=5, settings=EVERY_FRAME, start_ts=None)] == [
        0.0,
        0.2,
        0.4,
        0.6,
        0.8,
    ]


HIGHWAY_KEYFRAMES = [0.0, 4.267, 8.533, 12.8, 17.067, 21.333, 25.6, 29.867]


def test_keyframes_only_yields_each_keyframe_and_nothing_else(shared_media: Path) -> None:
    reader = Reader(
        "cam-test",
        str(paths.HIGHWAY),
        ReaderConfig(keyframes_only=True, max_gap_s=60),  # longer than the clip: never filled
        analysis_fps=1,
        live=False,
        health=CameraHealthTracker("cam-test"),
        start_ts=0.0,
    )
    frames = list(reader.frames(threading.Event()))

    assert all(f.keyframe for f in frames)
    assert [round(f.ts, 3) for f in frames] == HIGHWAY_KEYFRAMES
    assert reader.stats.decoded == 8, "only keyframes reach the decoder"
    assert reader.stats.packets == len(pts_seconds(paths.HIGHWAY)), "every packet is read (for the ring)"


def test_keyframes_closer_than_the_analysis_period_are_not_decoded(shared_media: Path) -> None:
    frames = read_all(paths.HIGHWAY, fps=1 / 6, settings=ReaderConfig(keyframes_only=True, max_gap_s=60))

    assert [round(f.ts, 3) for f in frames] == HIGHWAY_KEYFRAMES[::2]


def test_a_gop_longer_than_max_gap_s_is_filled_with_the_frame_due(shared_media: Path) -> None:
    """highway.mp4 has a keyframe every 4.27 s; 2 s is all this camera's rules can bear."""
    frames = read_all(paths.HIGHWAY, fps=1, settings=ReaderConfig(keyframes_only=True, max_gap_s=2.0))

    stamps = [f.ts for f in frames]
    assert stamps[0] == 0.0
    assert all(1.0 <= b - a <= 2.0 + 1e-6 for a, b in itertools.pairwise(stamps)), stamps
    assert HIGHWAY_S - stamps[-1] < 2.0
    assert any(not f.keyframe for f in frames)
    # A frame between keyframes is decoded whole, from the references since its keyframe.
    every = {round(f.ts, 3): f.image for f in read_all(paths.HIGHWAY, fps=30, settings=EVERY_FRAME)}
    for frame in frames:
        assert np.array_equal(frame.image, every[round(frame.ts, 3)]), f"frame at {frame.ts} differs"


@pytest.mark.parametrize(
    ("source", "make"),
    [
        ("missing.mp4", None),
        ("notes.mp4", "this is not a video"),
    ],
)
def test_unreadable_recording_raises_naming_the_source(tmp_path: Path, source: str, make: str | None) -> None:
    path = tmp_path / source
    if make is not None:
        path.write_text(make)
    health = CameraHealthTracker("cam-bad")
    reader = Reader("cam-bad", str(path), ReaderConfig(), analysis_fps=1, live=False, health=health)

    with pytest.raises(ReaderError, match=f"cam-bad.*{source}"):
        next(reader.frames(threading.Event()))
    assert health.state is CameraState.stopped


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        (
            "rtsp://admin:s3cret@10.0.0.21:554/Streaming/Channels/102",
            "rtsp://***@10.0.0.21:554/Streaming/Channels/102",
        ),
        ("rtsp://token@cam/x", "rtsp://***@cam/x"),
        ("error opening 'rtsp://u:p@h/x': refused", "error opening 'rtsp://***@h/x': refused"),
        ("rtsp://10.0.0.21/live?user=a@b", "rtsp://10.0.0.21/live?user=a@b"),
        ("/srv/video/cam@2.mp4", "/srv/video/cam@2.mp4"),
    ],
)
def test_credentials_are_masked(text: str, masked: str) -> None:
    assert mask_credentials(text) == masked


@pytest.fixture(scope="module")
def highway_rtsp() -> Iterator[RtspServer]:
    with RtspServer({"highway": paths.HIGHWAY}, loop_count=6) as server:
        yield server


def test_live_stream_reconnects_by_itself_after_a_server_restart(
    highway_rtsp: RtspServer,
    stop: threading.Event,
) -> None:
    health = CameraHealthTracker("cam-live")
    frames = live_reader(highway_rtsp.url("highway"), health).frames(stop)

    first = list(itertools.islice(frames, 5))
    assert len(first) == 5
    assert all(abs(f.ts - time.time()) < 2.0 for f in first), "live frames must carry wall-clock time"
    assert health.state is CameraState.streaming
    assert health.reconnects == 0

    highway_rtsp.restart()
    restarted = time.time()
    after = next((f for f in frames if f.ts > restarted), None)

    assert after is not None, "no frame after the restart"
    assert health.reconnects >= 1
    assert health.state is CameraState.streaming
    stop.set()
    stopping = time.monotonic()
    assert list(frames) == []
    assert time.monotonic() - stopping < 1.0
    assert health.snapshot().state is CameraState.stopped


def test_frozen_server_trips_the_stall_watchdog_then_the_reader_recovers(
    highway_rtsp: RtspServer,
    stop: threading.Event,
) -> None:
    """SIGSTOP keeps the TCP connection open but silent, like a hung camera."""
    health = CameraHealthTracker("cam-frozen")
    frames = live_reader(highway_rtsp.url("highway"), health).frames(stop)
    assert next(frames).ts == pytest.approx(time.time(), abs=2.0)  # the worker thread runs from here on

    highway_rtsp.freeze()
    try:
        stalled = wait_until(lambda: health.state is CameraState.backoff, timeout=4 * LIVE.stall_timeout_s)
        during = health.snapshot().last_error
    finally:
        highway_rtsp.thaw()
    wait_until(lambda: health.state is CameraState.streaming, timeout=15)
    after = health.snapshot().last_error
    stop.set()
    list(frames)

    assert stalled < 3 * LIVE.stall_timeout_s
    # The stall, or (the server still frozen at the next try) the connect timeout after it.
    assert during is not None
    assert during.startswith("stalled") or "timed out" in during, during
    assert after is None, "last_error must clear once the camera streams again"
    assert health.reconnects >= 1
    assert health.state is CameraState.stopped


def test_silent_server_backs_off_without_hanging_and_hides_credentials(stop: threading.Event) -> None:
    """A listener that accepts TCP connections but never answers RTSP: the connect timeout must fire."""
    with socket.socket() as silent, capture_logs() as logs:
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)  # the kernel completes the handshake; nobody ever reads or writes
        url = f"rtsp://admin:s3cret@127.0.0.1:{silent.getsockname()[1]}/stream"
        health = CameraHealthTracker("cam-silent")
        reader = live_reader(url, health)
        consumer = threading.Thread(target=lambda: list(reader.frames(stop)))  # blocks: no frame ever comes
        consumer.start()

        waited = wait_until(lambda: health.state is CameraState.backoff, timeout=3 * LIVE.connect_timeout_s)
        wait_until(lambda: health.reconnects >= 1, timeout=3 * LIVE.connect_timeout_s)
        stop.set()
        consumer.join(timeout=LIVE.connect_timeout_s + 1)

    assert waited < LIVE.connect_timeout_s + 1.0
    assert not consumer.is_alive(), "the reader did not stop"
    assert health.state is CameraState.stopped
    assert logs
    assert all(log.get("camera") == "cam-silent" for log in logs)
    reasons = [log["reason"] for log in logs if log["event"] == "stream lost, reconnecting"]
    timed_out = f"cannot connect: timed out: no answer within {LIVE.connect_timeout_s:g} s"
    assert reasons
    assert all(reason == timed_out for reason in reasons), reasons
    assert "s3cret" not in repr(logs)


def test_a_camera_that_answers_garbage_is_reported_as_invalid_data_not_as_a_timeout(
    stop: threading.Event,
) -> None:
    """The counterpart of the silent camera: it answers at once, with bytes that are not RTSP."""
    with socket.socket() as garbage:
        garbage.bind(("127.0.0.1", 0))
        garbage.listen(16)
        answering = threading.Thread(target=_answer_garbage, args=(garbage, stop), daemon=True)
        answering.start()
        health = CameraHealthTracker("cam-garbage")
        reader = live_reader(f"rtsp://127.0.0.1:{garbage.getsockname()[1]}/stream", health)
        consumer = threading.Thread(target=lambda: list(reader.frames(stop)))
        consumer.start()
        wait_until(lambda: health.state is CameraState.backoff, timeout=3 * LIVE.connect_timeout_s)
        error = health.snapshot().last_error
        stop.set()
        consumer.join(timeout=LIVE.connect_timeout_s + 1)

    assert error is not None
    assert error.startswith("cannot connect: "), error
    assert "timed out" not in error, error
    assert "Invalid data" in error, error


def _answer_garbage(listener: socket.socket, stop: threading.Event) -> None:
    listener.settimeout(0.2)
    while not stop.is_set():
        try:
            connection, _ = listener.accept()
        except (TimeoutError, OSError):
            continue
        with connection:
            connection.sendall(bytes(range(256)) * 8)


@pytest.mark.parametrize(
    ("fps", "rules", "gap"),
    [
        (1.0, {"illegal_parking": {}, "dust": {}, "illegal_building": {}}, 3.0),  # dust's 30 s
        (1.0, {"illegal_parking": {}}, 10.0),  # 300 s dwell: capped at MAX_GAP_S
        (5.0, {"illegal_parking": {"dwell_s": 4}}, 0.4),
        (2.0, {"illegal_parking": {"dwell_s": 3}}, 0.5),  # never below 1/analysis_fps
    ],
)
def test_max_gap_s_left_null_is_what_the_cameras_rules_need(
    fps: float, rules: dict[str, dict[str, float]], gap: float
) -> None:
    zone = {"id": "z", "polygon": [[0, 0], [1, 0], [1, 1]], "rules": rules}
    camera = CameraConfig.model_validate(
        {"id": "cam", "source": "x.mp4", "analysis_fps": fps, "zones": [zone]}
    )

    assert camera.reader.max_gap_s == pytest.approx(gap)
