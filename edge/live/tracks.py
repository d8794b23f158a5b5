"""The video track each viewer's RTCRtpSender pulls from, one kind per live mode.

Both live on the loop, are fed by their camera's feed and hold a bounded backlog:
- ``PacketTrack`` (pass-through) yields ``av.Packet``s, which aiortc packetises without encoding.
  H.264 frames depend on each other, so a viewer that falls behind drops its whole queue and
  resumes at the next keyframe rather than decoding garbage; a viewer whose browser lost its
  picture (RTCP PLI/FIR) is sent the cached GOP again from its keyframe (``replay``).
- ``FrameTrack`` (re-encode) holds only the newest decoded frame; aiortc encodes it for this peer.
  The frame object is shared by the camera's viewers, as with aiortc's own MediaRelay: its pts is
  set once by the feed, and only aiortc's keyframe flag (``pict_type``) is written per encoder.
"""

from __future__ import annotations

import asyncio
import fractions
import time
from collections import deque
from dataclasses import dataclass

import av
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

VIDEO_CLOCK = 90_000
VIDEO_TIME_BASE = fractions.Fraction(1, VIDEO_CLOCK)
BURST_STEP_S = 0.001
"""Media-time spacing of the frames a new viewer gets at once (keyframe onwards): the browser
decodes them straight away and shows the newest, instead of replaying the camera's last seconds."""
REPLAY_INTERVAL_S = 1.0
"""A browser repeats its keyframe request until it decodes a picture again: one GOP burst a
second per viewer answers them without flooding its link."""


@dataclass(frozen=True, slots=True)
class Unit:
    """One access unit, ready to send: ``data`` in Annex B, keyframes with their SPS/PPS."""

    data: bytes
    keyframe: bool
    ts: float


class PacketTrack(MediaStreamTrack):
    kind = "video"

    def __init__(self, max_queue: int) -> None:
        super().__init__()
        self._queue: deque[tuple[Unit, float]] = deque()
        self._max_queue = max_queue
        self._wake = asyncio.Event()
        self._want_keyframe = True
        self._origin: float | None = None
        self._last_pts = -1
        self._burst_at = -REPLAY_INTERVAL_S
        self.sent = 0
        self.dropped = 0
        self.replays = 0

    def start(self, backlog: list[Unit]) -> None:
        """Queue the frames from the newest keyframe on, spaced ``BURST_STEP_S`` apart up to now."""
        self._burst_at = time.monotonic()
        now = time.time()
        for i, unit in enumerate(backlog):
            self._put(unit, now - (len(backlog) - i) * BURST_STEP_S)

    def replay(self, gop: list[Unit]) -> bool:
        """The browser asked for a keyframe: what is queued goes, and ``gop`` (the camera's frames
        from its newest keyframe) comes again at once. False, doing nothing, within
        ``REPLAY_INTERVAL_S`` of the last burst, or without a keyframe to send."""
        if not gop or not gop[0].keyframe or time.monotonic() - self._burst_at < REPLAY_INTERVAL_S:
            return False
        self.resync()
        self.start(gop)
        self.replays += 1
        return True

    def put(self, unit: Unit) -> None:
        self._put(unit, unit.ts)

    def resync(self) -> None:
        """The stream changed under us (camera reconnected): start again at a keyframe."""
        self.dropped += len(self._queue)
        self._queue.clear()
        self._want_keyframe = True

    def _put(self, unit: Unit, media_ts: float) -> None:
        if self._want_keyframe and not unit.keyframe:
            self.dropped += 1
            return
        if len(self._queue) >= self._max_queue:
            self.resync()
            if not unit.keyframe:
                self.dropped += 1
                return
        self._want_keyframe = False
        self._queue.append((unit, media_ts))
        self._wake.set()

    async def recv(self) -> av.Packet:  # type: ignore[type-arg]  # aiortc types recv as a Frame, pass-through hands it packets
        while not self._queue:
            if self.readyState != "live":
                raise MediaStreamError
            self._wake.clear()
            await self._wake.wait()
        unit, media_ts = self._queue.popleft()
        if self._origin is None:
            self._origin = media_ts
        pts = max(round((media_ts - self._origin) * VIDEO_CLOCK), self._last_pts + 1)
        self._last_pts = pts
        packet = av.Packet(unit.data)
        packet.pts = pts
        packet.time_base = VIDEO_TIME_BASE
        self.sent += 1
        return packet

    def stop(self) -> None:
        super().stop()
        self._wake.set()


class FrameTrack(MediaStreamTrack):
    kind = "video"

    def __init__(self) -> None:
        super().__init__()
        self._frame: av.VideoFrame | None = None
        self._wake = asyncio.Event()
        self.sent = 0
        self.dropped = 0

    def put(self, frame: av.VideoFrame) -> None:
        if self._frame is not None:
            self.dropped += 1
        self._frame = frame
        self._wake.set()

    async def recv(self) -> av.VideoFrame:
        while self._frame is None:
            if self.readyState != "live":
                raise MediaStreamError
            self._wake.clear()
            await self._wake.wait()
        frame, self._frame = self._frame, None
        self.sent += 1
        return frame

    def stop(self) -> None:
        super().stop()
        self._wake.set()
