"""A pass-through viewer whose browser lost its picture asks for a keyframe (RTCP PLI); the camera
cannot be asked, so the edge sends the cached GOP again from its keyframe, unless the camera's own
next keyframe is near.

The end-to-end test runs the edge's ``LiveService`` in this process with an aiortc peer as the
browser, over loopback; the camera is an H.264 file with a 10 s GOP pushed into a real
``PacketRing`` in real time, so without an answer the viewer would wait seconds for a keyframe.
"""

from __future__ import annotations

import asyncio
import re
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Self

import av
import pytest
from aiortc import RTCPeerConnection, RTCRtpTransceiver, RTCSessionDescription
from aiortc.mediastreams import MediaStreamTrack

from contract.rpc import WebrtcOffer
from contract.status import CameraState
from edge.capture.packet_ring import PacketRing
from edge.commands.rpc import LoopThread
from edge.config import LiveConfig
from edge.delivery.health import CameraHealthTracker
from edge.live import tracks
from edge.live.feed import CameraFeed
from edge.live.service import LiveService
from edge.live.tracks import PacketTrack
from tests.support.paths import HIGHWAY
from tests.support.stack import wait_until

GOP_FRAMES = 300
FPS = 30


@pytest.fixture(scope="module")
def long_gop(tmp_path_factory: pytest.TempPathFactory, shared_media: Path) -> Path:
    """12 s of highway.mp4, a keyframe every 10 s, no B-frames, as MPEG-TS (Annex B, like RTSP's packets)."""
    target = tmp_path_factory.mktemp("gop") / "long-gop.ts"
    subprocess.run(
        [
            "ffmpeg",
            "-loglevel",
            "error",
            "-y",
            "-i",
            str(HIGHWAY),
            "-an",
            "-t",
            "12",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-profile:v",
            "main",
            "-bf",
            "0",
            "-g",
            str(GOP_FRAMES),
            "-bsf:v",
            "h264_mp4toannexb",
            "-f",
            "mpegts",
            str(target),
        ],
        check=True,
        timeout=120,
    )
    return target


class Camera:
    """Pushes a file's packets into a ring on its own thread, ``FPS`` a second, counting keyframes."""

    def __init__(self, path: Path, ring: PacketRing) -> None:
        self._path = path
        self._ring = ring
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="test-camera", daemon=True)
        self.keyframes = 0

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stopped.set()
        self._thread.join(10)

    def _run(self) -> None:
        with av.open(str(self._path)) as container:
            stream = container.streams.video[0]
            for packet in container.demux(stream):
                if not packet.size or self._stopped.wait(1 / FPS):
                    continue
                self.keyframes += packet.is_keyframe
                self._ring.push(packet, time.time())


@pytest.fixture
def live() -> Iterator[tuple[LiveService, PacketRing, LoopThread]]:
    loop = LoopThread("test-live")
    loop.start()
    health = CameraHealthTracker("cam")
    health.set_state(CameraState.streaming)
    service = LiveService(LiveConfig(mode="passthrough"), [health], loop)
    ring = PacketRing(seconds=60)
    service.feed("cam").attach(ring)
    try:
        yield service, ring, loop
    finally:
        service.stop()
        loop.stop()


def is_keyframe(frame: object) -> bool:
    return isinstance(frame, av.VideoFrame) and bool(frame.key_frame)


async def view_and_lose_the_picture(service: LiveService, loop: LoopThread, camera: Camera) -> int:
    """Watch 2 s (past the burst that started the view), send a PLI, then read frames up to the next
    keyframe; returns how many keyframes the camera had sent by then."""
    pc = RTCPeerConnection()
    try:
        transceiver: RTCRtpTransceiver = pc.addTransceiver("video", direction="recvonly")
        await pc.setLocalDescription(await pc.createOffer())
        offer = WebrtcOffer(camera_id="cam", sdp=pc.localDescription.sdp)
        answer = await asyncio.wrap_future(loop.submit(service.offer(offer)))
        await pc.setRemoteDescription(RTCSessionDescription(answer.sdp, "answer"))
        track: MediaStreamTrack = transceiver.receiver.track
        assert is_keyframe(await asyncio.wait_for(track.recv(), 15)), (
            "a new viewer starts at the GOP's keyframe"
        )
        started = time.monotonic()
        while time.monotonic() - started < 2 * tracks.REPLAY_INTERVAL_S:
            await asyncio.wait_for(track.recv(), 15)
        ssrc = int(re.findall(r"a=ssrc:(\d+)", answer.sdp)[0])
        await transceiver.receiver._send_rtcp_pli(ssrc)
        for _ in range(2 * GOP_FRAMES):
            if is_keyframe(await asyncio.wait_for(track.recv(), 15)):
                return camera.keyframes
        raise AssertionError("no keyframe after the PLI")
    finally:
        await pc.close()


def test_a_keyframe_request_is_answered_with_the_cached_gop(
    live: tuple[LiveService, PacketRing, LoopThread], long_gop: Path
) -> None:
    service, ring, loop = live
    with Camera(long_gop, ring) as camera:
        wait_until(lambda: ring.newest_ts, 10, "the camera's first packets")
        camera_keyframes = asyncio.run(view_and_lose_the_picture(service, loop, camera))
    assert camera_keyframes == 1, "the viewer's keyframe came before the camera's next one"


@pytest.mark.parametrize(
    ("keyframe_interval_s", "age_s", "replayed"),
    [
        (10.0, 0.1, True),  # the camera's next keyframe is 10 s away
        (1.0, 0.1, False),  # it is due within a second: the browser gets it soon enough
        (10.0, 3.0, False),  # the camera sent nothing for 3 s: old pictures must not come back as live
    ],
)
def test_the_gop_is_replayed_only_while_the_camera_sends_and_its_next_keyframe_is_far(
    long_gop: Path, monkeypatch: pytest.MonkeyPatch, keyframe_interval_s: float, age_s: float, replayed: bool
) -> None:
    """Two keyframes ``keyframe_interval_s`` apart (arrival times), the second ``age_s`` ago."""
    monkeypatch.setattr(tracks, "REPLAY_INTERVAL_S", 0.0)  # the new viewer's own burst does not count here

    async def run(packets: list[av.Packet[Any]]) -> int:
        now = time.time()
        step = keyframe_interval_s / GOP_FRAMES
        stamps = [now - age_s - keyframe_interval_s + i * step for i in range(len(packets))]
        health = CameraHealthTracker("cam")
        health.set_state(CameraState.streaming)
        feed = CameraFeed("cam", health, LiveConfig(mode="passthrough"), asyncio.get_running_loop())
        ring = PacketRing(seconds=600)
        feed.attach(ring)
        ring.push(packets[0], stamps[0])
        await asyncio.sleep(0.01)  # the feed takes the ring on the loop
        track = feed.open_track()
        for packet, stamp in zip(packets[1:], stamps[1:], strict=True):
            ring.push(packet, stamp)
        await asyncio.sleep(0.05)  # the ring's listener hands each packet over through the loop
        assert isinstance(track, PacketTrack)
        feed.keyframe_requested(track)
        feed.stop()
        return track.replays

    with av.open(str(long_gop)) as container:  # open while the ring holds its packets
        stream = container.streams.video[0]
        packets = [p for p in container.demux(stream) if p.size][: GOP_FRAMES + 1]
        assert asyncio.run(run(packets)) == int(replayed)
