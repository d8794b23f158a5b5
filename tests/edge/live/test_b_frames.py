"""Pass-through decides on B-frames from the bitstream, never from timestamps.

Real H.264 from ffmpeg goes through a real ``PacketRing`` (MPEG-TS: Annex B with timestamps, as
an RTSP camera's packets arrive); a stream without B-frames whose presentation times jump back
(a looped source, a reconnect of another client on a shared RTSP media, an RTP timestamp wrap)
still passes through, and one with B-frames is refused however few of its packets a viewer sees.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import av
import pytest

from edge.capture.packet_ring import PacketRing, StoredPacket
from edge.live.h264 import passthrough_problem
from tests.support.paths import HIGHWAY

B_FRAMES = "the H.264 has B-frames, which browsers do not play over WebRTC"
Rewrite = Callable[[int, int], int]
"""(index in decode order, pts) -> the pts the camera sent instead."""


def transport_stream(folder: Path, name: str, *encoder: str) -> Path:
    """The first 300 frames of highway.mp4 (keyframes at 0, 128 and 256) as MPEG-TS: re-encoded with
    ``encoder`` options, or copied."""
    target = folder / f"{name}.ts"
    codec = list(encoder) or ["-c:v", "copy"]
    subprocess.run(
        [
            "ffmpeg",
            "-loglevel",
            "error",
            "-y",
            "-i",
            str(HIGHWAY),
            "-an",
            "-frames:v",
            "300",
            *codec,
            "-bsf:v",
            "h264_mp4toannexb",
            "-f",
            "mpegts",
            str(target),
        ],
        check=True,
        timeout=60,
    )
    return target


@pytest.fixture(scope="module")
def streams(tmp_path_factory: pytest.TempPathFactory, shared_media: Path) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("h264")
    x264 = ["-c:v", "libx264", "-profile:v", "main", "-g", "30", "-preset", "ultrafast"]
    return {
        "camera": transport_stream(folder, "camera"),
        "b-frames": transport_stream(folder, "b-frames", *x264, "-bf", "2"),
    }


def ring_of(path: Path, rewrite: Rewrite = lambda i, pts: pts) -> PacketRing:
    ring = PacketRing(seconds=600)
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        for i, packet in enumerate(p for p in container.demux(stream) if p.size):
            if packet.pts is not None:
                packet.pts = packet.dts = rewrite(i, packet.pts)
            ring.push(packet, float(i))
    return ring


def backlog(ring: PacketRing) -> list[StoredPacket]:
    return ring.subscribe(lambda packet: None)


def looped(i: int, pts: int) -> int:
    """The source starts over at its second keyframe: times restart from 0."""
    return pts - 128 * 3000 if i >= 128 else pts


def rtp_wrap(i: int, pts: int) -> int:
    """Mid-GOP, times fall back by 2^32 ticks, as a 32-bit RTP timestamp that was not unwrapped."""
    return pts + 2**32 if i < 200 else pts


def another_client_joined(i: int, pts: int) -> int:
    """GStreamer's shared RTSP media restarts a client's times at a keyframe when a second client joins."""
    return pts - 250 * 3000 if i >= 256 else pts


@pytest.mark.parametrize("rewrite", [looped, rtp_wrap, another_client_joined])
def test_a_stream_without_b_frames_passes_through_across_timestamp_jumps(
    streams: dict[str, Path], rewrite: Rewrite
) -> None:
    ring = ring_of(streams["camera"], rewrite)
    packets = backlog(ring)
    assert packets
    assert packets[0].keyframe
    assert passthrough_problem(packets) is None


def test_a_stream_with_b_frames_is_refused(streams: dict[str, Path]) -> None:
    assert passthrough_problem(backlog(ring_of(streams["b-frames"]))) == B_FRAMES


def test_b_frames_are_seen_from_the_keyframe_alone(streams: dict[str, Path]) -> None:
    """A viewer arriving right after a keyframe: its backlog holds no B-frame yet."""
    keyframe_only = backlog(ring_of(streams["b-frames"]))[:1]
    assert keyframe_only[0].keyframe
    assert passthrough_problem(keyframe_only) == B_FRAMES
