"""The packet ring writes event clips by remuxing the camera's own packets: they must decode,
keep the source bytes, start at a keyframe and stay within one stream segment."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import av
import pytest
from av.video.stream import VideoStream

from edge.capture.packet_ring import PacketRing, StoredPacket
from edge.capture.reader import Reader
from edge.config import ReaderConfig
from edge.delivery.health import CameraHealthTracker
from tests.support import paths
from tests.support.rtsp import RtspServer

FRAME_S = 1 / 30
HIGHWAY_LAST_KEYFRAME_S = 29.8667
HIGHWAY_END_S = 30.5667  # last packet's pts + its duration


@dataclass(frozen=True)
class Clip:
    codec: str
    frames: int
    keyframe_first: bool
    packets: list[bytes]
    dts: list[int]
    duration_s: float
    moov_before_mdat: bool


def inspect_clip(path: Path) -> Clip:
    """Everything a test asserts about an MP4, read back with PyAV (and decoded in full)."""
    data = path.read_bytes()
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        packets = [p for p in container.demux(stream) if p.size]
        codec = stream.codec_context.name
        duration = float(container.duration or 0) / av.time_base
    with av.open(str(path)) as container:
        frames = sum(1 for _ in container.decode(video=0))
    return Clip(
        codec,
        frames,
        packets[0].is_keyframe,
        [bytes(p) for p in packets],
        [p.dts or 0 for p in packets],
        duration,
        data.find(b"moov") < data.find(b"mdat"),
    )


def source_packets(path: Path, from_s: float) -> list[bytes]:
    """The source's video packets from the one at ``from_s`` on (highway.mp4 has no B-frames)."""
    packets = [(seconds(p), bytes(p)) for p in demuxed(path)]
    first = min(range(len(packets)), key=lambda i: abs(packets[i][0] - from_s))
    return [data for _, data in packets[first:]]


def read_recording(path: Path, ring: PacketRing) -> None:
    reader = Reader(
        "cam-clip",
        str(path),
        ReaderConfig(),
        analysis_fps=1,
        live=False,
        health=CameraHealthTracker("cam-clip"),
        ring=ring,
        start_ts=0.0,
    )
    for _ in reader.frames(threading.Event()):
        pass


def seconds(packet: av.Packet[VideoStream]) -> float:
    assert packet.pts is not None
    assert packet.time_base is not None
    return float(packet.pts * packet.time_base)


def demuxed(path: Path) -> Iterator[av.Packet[VideoStream]]:
    with av.open(str(path)) as container:
        yield from (p for p in container.demux(container.streams.video[0]) if p.size)


@pytest.fixture(scope="module")
def highway_ring(shared_media: Path) -> PacketRing:
    ring = PacketRing(seconds=60)
    read_recording(paths.HIGHWAY, ring)
    return ring


@pytest.mark.parametrize(
    ("moment", "first_keyframe"),
    [
        (15.0, 12.8),  # pre-roll starts 0.2 s after a keyframe
        (14.7, 8.5333),  # pre-roll starts 0.1 s before one: the previous keyframe, a whole GOP earlier
    ],
)
def test_clip_is_a_remux_from_the_keyframe_before_the_preroll(
    highway_ring: PacketRing,
    tmp_path: Path,
    moment: float,
    first_keyframe: float,
) -> None:
    path = tmp_path / "clip.mp4"
    start, end = moment - 2.0, moment + 2.0

    duration = highway_ring.write_clip(start, end, path)

    # The packets start at the keyframe at/before the pre-roll (decoding needs it), but an edit list
    # hides those before the pre-roll: the clip plays, and lasts, exactly pre + post.
    assert duration is not None
    assert duration == pytest.approx(end - start, abs=FRAME_S + 1e-3)
    clip = inspect_clip(path)
    assert clip.codec == "h264"
    assert clip.duration_s == pytest.approx(duration, abs=0.01)
    assert clip.keyframe_first
    assert abs(len(clip.packets) - round((end - first_keyframe) * 30)) <= 1
    assert abs(clip.frames - round((end - start) * 30)) <= 1
    expected = source_packets(paths.HIGHWAY, first_keyframe)[: len(clip.packets)]
    assert clip.packets == expected, "packet bytes differ from the source: the clip was not a pure remux"
    assert all(b > a for a, b in itertools.pairwise(clip.dts))
    assert clip.moov_before_mdat, "no +faststart: a browser could not seek before the download ends"


def test_empty_ring_and_spans_before_any_packet_give_no_clip(
    highway_ring: PacketRing, tmp_path: Path
) -> None:
    assert PacketRing(seconds=10).write_clip(0.0, 4.0, tmp_path / "a.mp4") is None
    assert PacketRing(seconds=10).newest_ts is None
    assert highway_ring.write_clip(-10.0, -5.0, tmp_path / "b.mp4") is None
    assert not list(tmp_path.iterdir())


def test_memory_is_bounded_by_age_and_starts_at_a_keyframe(shared_media: Path, tmp_path: Path) -> None:
    ring = PacketRing(seconds=2.0)
    read_recording(paths.HIGHWAY, ring)
    assert ring.newest_ts == pytest.approx(30.5333, abs=1e-3)

    duration = ring.write_clip(0.0, 31.0, tmp_path / "tail.mp4")

    # Packets older than 2 s are gone, and so are the non-keyframes left without their keyframe:
    # what remains starts at the last keyframe (29.87 s) and runs to the end (30.57 s).
    assert duration == pytest.approx(HIGHWAY_END_S - HIGHWAY_LAST_KEYFRAME_S, abs=1e-3)
    assert inspect_clip(tmp_path / "tail.mp4").keyframe_first


def test_clip_uses_only_the_newest_stream_segment(shared_media: Path, tmp_path: Path) -> None:
    """A reconnect restarts pts at 0 with a new stream: mixing segments would break the MP4."""
    ring = PacketRing(seconds=120)
    for offset in (0.0, 40.0):  # two "connections" to the same camera, 40 s apart
        for packet in demuxed(paths.HIGHWAY):
            ring.push(packet, offset + seconds(packet))

    duration = ring.write_clip(25.0, 46.0, tmp_path / "clip.mp4")

    assert duration == pytest.approx(6.0 + FRAME_S, abs=1e-3)  # 40..46 s of the second segment only
    clip = inspect_clip(tmp_path / "clip.mp4")
    assert clip.frames == len(clip.packets) == 181
    assert clip.packets[0] == source_packets(paths.HIGHWAY, 0.0)[0]


def test_packets_without_timestamps_get_them_from_their_neighbours(
    shared_media: Path, tmp_path: Path
) -> None:
    """FFmpeg's RTP demuxer leaves the first packets of a session without pts/dts."""
    ring = PacketRing(seconds=60)
    for index, packet in enumerate(demuxed(paths.HIGHWAY)):
        ts = seconds(packet)
        if index < 3:
            packet.pts = packet.dts = None
        ring.push(packet, ts)

    duration = ring.write_clip(0.0, 2.0, tmp_path / "clip.mp4")

    clip = inspect_clip(tmp_path / "clip.mp4")
    assert clip.frames == len(clip.packets) == 61
    assert clip.dts == [i * 1000 for i in range(61)]  # 1/30 s in highway.mp4's 1/30000 time base
    assert duration == pytest.approx(61 * FRAME_S, abs=1e-3)


def test_clip_from_the_live_rtsp_stream_decodes(shared_media: Path, tmp_path: Path) -> None:
    """RTSP delivers H.264 in Annex-B with SPS/PPS in-band; the MP4 must still carry an avcC and decode."""
    ring = PacketRing(seconds=30)
    stop = threading.Event()
    with RtspServer({"highway": paths.HIGHWAY}, loop_count=2) as server:
        reader = Reader(
            "cam-rtsp",
            server.url("highway"),
            ReaderConfig(connect_timeout_s=5, stall_timeout_s=5),
            analysis_fps=1,
            live=True,
            health=CameraHealthTracker("cam-rtsp"),
            ring=ring,
        )
        watchdog = threading.Timer(30, stop.set)
        watchdog.start()
        started = time.time()
        for frame in reader.frames(stop):
            if frame.ts - started > 5.5:  # past the second keyframe (4.27 s)
                stop.set()
        watchdog.cancel()

    newest = ring.newest_ts
    assert newest is not None
    duration = ring.write_clip(newest - 2.0, newest, tmp_path / "live.mp4")

    # Live packets carry arrival times, and GStreamer bursts a second or two ahead when a session
    # starts, so the cut follows arrival time only to within that burst.
    assert duration is not None
    assert duration == pytest.approx(2.0, abs=0.5)
    clip = inspect_clip(tmp_path / "live.mp4")
    assert clip.codec == "h264"
    assert clip.keyframe_first
    assert len(clip.packets) >= clip.frames
    assert abs(clip.frames - 2 * 30) <= 15
    assert all(b > a for a, b in itertools.pairwise(clip.dts))
    assert clip.duration_s == pytest.approx(duration, abs=0.05)


def test_a_subscriber_gets_the_packets_since_the_last_keyframe_then_each_new_one_once(
    shared_media: Path,
) -> None:
    ring, seen = PacketRing(seconds=60), list[StoredPacket]()
    pushed: list[tuple[bytes, bool]] = []
    backlog = []
    with av.open(str(paths.HIGHWAY)) as container:  # the ring copies stream parameters: push while it is open
        for i, packet in enumerate(p for p in container.demux(container.streams.video[0]) if p.size):
            if i == 150:  # mid-GOP: the second keyframe is packet 128
                backlog = ring.subscribe(seen.append)
            elif i == 160:
                ring.unsubscribe(seen.append)
            elif i == 170:
                break
            pushed.append((bytes(packet), packet.is_keyframe))
            ring.push(packet, i / 30)

    last_key = max(i for i, (_, key) in enumerate(pushed[:150]) if key)
    assert last_key == 128
    assert [p.data for p in backlog] == [data for data, _ in pushed[last_key:150]]
    assert backlog[0].keyframe
    assert backlog[0].segment.codec == "h264"
    assert [p.data for p in seen] == [data for data, _ in pushed[150:160]]
    assert PacketRing(seconds=10).subscribe(seen.append) == []


FREEZE_S = 30.0
HIGHWAY_KEYFRAMES_S = [i * 4.2667 for i in range(8)]


def push_with_freeze(ring: PacketRing, freeze_at_s: float, until_s: float = HIGHWAY_END_S) -> None:
    """highway.mp4 up to ``until_s`` as a camera that delivers it in real time, with the box frozen
    (SIGSTOP) for ``FREEZE_S`` at ``freeze_at_s``: the packets after it arrive that much later."""
    for packet in demuxed(paths.HIGHWAY):
        media_s = seconds(packet)
        if media_s > until_s:
            return
        ring.push(packet, media_s + (FREEZE_S if media_s >= freeze_at_s else 0.0))


def test_a_freeze_of_the_box_does_not_throw_away_the_video_before_it(
    shared_media: Path, tmp_path: Path
) -> None:
    """An event waiting for its post-roll when the box froze is cut as soon as it thaws: the first
    packets after a 30 s gap must not age the whole ring out (a 30 s SIGSTOP cost 16 events their clips)."""
    ring = PacketRing(seconds=14.0)  # pre 2 + post 2 + 10, as the pipeline sizes it
    push_with_freeze(ring, freeze_at_s=20.0, until_s=21.0)  # thawed, one second of video since
    moment = 18.5  # the event's moment; the freeze at 20 s cut its post-roll (to 20.5 s) short

    duration = ring.write_clip(moment - 2.0, moment + 2.0, tmp_path / "clip.mp4")

    assert duration is not None, "the video from before the freeze was dropped"
    assert duration == pytest.approx(20.0 - (moment - 2.0), abs=2 * FRAME_S)  # up to the freeze
    clip = inspect_clip(tmp_path / "clip.mp4")
    assert clip.keyframe_first
    assert abs(clip.frames - round(duration * 30)) <= 1


def test_the_ring_still_holds_only_its_seconds_of_video_across_a_freeze(
    shared_media: Path, tmp_path: Path
) -> None:
    """The gap counts as (almost) nothing and video in full: 14 s of video after a freeze push out
    everything from before it, and the ring starts at a keyframe again."""
    ring = PacketRing(seconds=14.0)
    push_with_freeze(ring, freeze_at_s=15.0)  # 15.6 s of video after the freeze

    assert ring.write_clip(0.0, 16.0, tmp_path / "before.mp4") is None
    duration = ring.write_clip(0.0, FREEZE_S + 31.0, tmp_path / "after.mp4")
    first_kept = min(k for k in HIGHWAY_KEYFRAMES_S if k >= HIGHWAY_END_S - 14.0)
    assert duration is not None
    assert duration == pytest.approx(HIGHWAY_END_S - first_kept, abs=2 * FRAME_S)
