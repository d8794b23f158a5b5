"""One camera's live source, shared by all its viewers: the ring's packets, fanned out on the loop.

The feed subscribes to the camera's ``PacketRing`` when its first viewer arrives and unsubscribes
when the last one leaves, so a camera nobody watches costs nothing here. It chooses the mode then
(``live.mode``; ``auto`` passes the camera's H.264 through unless it cannot be played as it is)
and keeps it until the source stops. The ring's listener runs on the reader's thread and only
schedules the packet onto the loop; everything else happens on the loop.

A pass-through viewer's browser that lost its picture asks for a keyframe (RTCP PLI/FIR), and the
camera cannot be asked for one: the feed sends that viewer the cached GOP again from its keyframe,
unless the camera's own next keyframe is due within ``KEYFRAME_WAIT_S``, or the camera has sent
nothing for ``REPLAY_MAX_AGE_S`` (a browser asks for a keyframe when frames stop coming, and old
pictures must not be shown again as live).
"""

from __future__ import annotations

import asyncio
import time

import av
import structlog
from aiortc.mediastreams import MediaStreamTrack

from contract.rpc import ErrorCode, LiveMode
from contract.status import CameraState
from edge.capture.frames import Frame
from edge.capture.packet_ring import PacketRing, StoredPacket
from edge.commands.rpc import RpcError
from edge.config import LiveConfig
from edge.delivery.health import CameraHealthTracker
from edge.live.decoder import Decoder
from edge.live.h264 import passthrough_problem, with_parameter_sets
from edge.live.tracks import VIDEO_CLOCK, VIDEO_TIME_BASE, FrameTrack, PacketTrack, Unit

log = structlog.get_logger(__name__)

MAX_GOP_UNITS = 1000
"""Frames kept from the newest keyframe on for the next viewer (a minute at 15 fps);
a longer GOP is dropped and its next viewer waits for a keyframe instead."""
MAX_VIEWER_QUEUE = 300
KEYFRAME_WAIT_S = 1.0
"""A keyframe request is left to the camera's next keyframe when that is due within this."""
REPLAY_MAX_AGE_S = 2.0
"""A GOP whose newest frame arrived longer ago than this is not sent again: the camera stopped.
(Chrome asks for a keyframe after 3 s without a frame.)"""
FRAME_TICKS = VIDEO_CLOCK // 30
"""aiortc's encoders run at a 1/30 s time base: re-encoded frames get timestamps on that grid,
one slot apart at least, so that no two frames of one viewer share a timestamp."""


class CameraFeed:
    def __init__(
        self,
        camera_id: str,
        health: CameraHealthTracker,
        settings: LiveConfig,
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        self.camera_id = camera_id
        self._health = health
        self._settings = settings
        self._loop = loop
        self._log = log.bind(camera=camera_id)
        self._ring: PacketRing | None = None
        self._tracks: set[MediaStreamTrack] = set()
        self.mode: LiveMode | None = None  # while the source runs
        self._segment: object = None
        self._gop: list[Unit] = []
        self._keyframe_interval: float | None = None
        self._decoder: Decoder | None = None
        self._last_frame: av.VideoFrame | None = None
        self._last_pts = -FRAME_TICKS
        self._started_at = 0.0
        self.latest: Frame | None = None
        """The newest frame analysis sampled, for snapshots (written by the camera's thread)."""

    # --- any thread ---------------------------------------------------------------------------

    def attach(self, ring: PacketRing) -> None:
        """The camera's pipeline (re)started with this ring."""
        self._loop.call_soon_threadsafe(self._attach, ring)

    def frame_analysed(self, frame: Frame) -> None:
        self.latest = frame

    def _listen(self, packet: StoredPacket) -> None:
        """Called by the ring on the reader's thread: hand over, nothing more."""
        if not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._on_packet, packet)

    # --- the loop -------------------------------------------------------------------------------

    def check_available(self) -> None:
        """RpcError(camera_unavailable) unless the camera is streaming and has sent packets lately."""
        state = self._health.state
        if state is not CameraState.streaming:
            raise RpcError(
                ErrorCode.camera_unavailable,
                f"camera '{self.camera_id}' is not streaming "
                f"(state: {state.value}); the edge keeps reconnecting to it",
            )
        newest = self._ring.newest_ts if self._ring else None
        if newest is None or time.time() - newest > self._settings.max_stale_s:
            silent = (
                "has sent nothing yet"
                if newest is None
                else f"has sent nothing for {time.time() - newest:.0f} s"
            )
            raise RpcError(ErrorCode.camera_unavailable, f"camera '{self.camera_id}' {silent}")

    def open_track(self) -> MediaStreamTrack:
        """A track for a new viewer, starting the source if it is the first."""
        if self._ring is None:
            raise RpcError(ErrorCode.camera_unavailable, f"camera '{self.camera_id}' has not started yet")
        if not self._tracks:
            backlog = self._ring.subscribe(self._listen)
            try:
                self._start(backlog)
            except RpcError:
                self._ring.unsubscribe(self._listen)
                raise
        track: MediaStreamTrack
        if self.mode == "passthrough":
            track = PacketTrack(MAX_VIEWER_QUEUE)
            track.start(self._gop)
        else:
            track = FrameTrack()
            if self._last_frame is not None:
                track.put(self._last_frame)
        self._tracks.add(track)
        return track

    def close_track(self, track: MediaStreamTrack) -> None:
        track.stop()
        self._tracks.discard(track)
        if not self._tracks and self.mode is not None:
            self._stop("no viewers left")

    def stop(self) -> None:
        for track in list(self._tracks):
            self.close_track(track)

    def keyframe_requested(self, track: MediaStreamTrack) -> None:
        """A viewer's browser asked for a keyframe (RTCP PLI or FIR). Re-encoding, aiortc's encoder
        makes its next frame one by itself; passing through, the viewer gets the GOP again."""
        if not isinstance(track, PacketTrack) or track not in self._tracks or not self._gop:
            return
        now, interval = time.time(), self._keyframe_interval
        if now - self._gop[-1].ts > REPLAY_MAX_AGE_S:
            return
        if interval is not None and self._gop[0].ts + interval - now < KEYFRAME_WAIT_S:
            return
        if track.replay(self._gop):
            self._log.debug("keyframe request answered from the cached GOP", units=len(self._gop))

    def _start(self, backlog: list[StoredPacket]) -> None:
        problem = passthrough_problem(backlog)
        mode = self._settings.mode
        if mode == "passthrough" and problem and backlog:
            raise RpcError(
                ErrorCode.unsupported,
                f"camera '{self.camera_id}': {problem}; live.mode "
                "passthrough cannot show it (use auto or reencode)",
            )
        self.mode = (
            "reencode" if mode == "reencode" or (mode == "auto" and problem and backlog) else "passthrough"
        )
        self._segment = backlog[0].segment if backlog else None
        self._started_at, self._last_pts = time.time(), -FRAME_TICKS
        if self.mode == "passthrough":
            self._gop = [self._unit(p) for p in backlog]
        else:
            self._decoder = Decoder(self.camera_id, self._decoded)
            self._decoder.start(backlog)
        self._log.info(
            "live source started",
            mode=self.mode,
            backlog=len(backlog),
            why_not_passthrough=problem if self.mode == "reencode" else None,
        )

    def _stop(self, reason: str) -> None:
        if self._ring is not None:
            self._ring.unsubscribe(self._listen)
        if self._decoder is not None:
            self._decoder.stop()
            self._decoder = None
        self._log.info("live source stopped", mode=self.mode, reason=reason)
        self.mode, self._segment, self._gop, self._last_frame = None, None, [], None
        self._keyframe_interval = None

    def _attach(self, ring: PacketRing) -> None:
        if self._ring is not None and self.mode is not None:
            self._ring.unsubscribe(self._listen)
            ring.subscribe(self._listen)  # its backlog is from before the restart: not wanted
        self._ring = ring

    def _on_packet(self, packet: StoredPacket) -> None:
        if self.mode is None:
            return  # scheduled before the source stopped
        if packet.segment is not self._segment:
            self._segment = packet.segment
            self._gop, self._keyframe_interval = [], None
            for track in self._tracks:
                if isinstance(track, PacketTrack):
                    track.resync()
        if self._decoder is not None:
            self._decoder.put(packet)
            return
        unit = self._unit(packet)
        if unit.keyframe:
            if self._gop:
                self._keyframe_interval = unit.ts - self._gop[0].ts
            self._gop = [unit]
        elif self._gop and len(self._gop) < MAX_GOP_UNITS:
            self._gop.append(unit)
        else:
            self._gop = []
        for track in self._tracks:
            track.put(unit)  # type: ignore[attr-defined]  # aiortc types the set as MediaStreamTrack; ours are PacketTracks

    def _unit(self, packet: StoredPacket) -> Unit:
        data = with_parameter_sets(packet.data, packet.segment.extradata) if packet.keyframe else packet.data
        return Unit(data, packet.keyframe, packet.ts)

    def _decoded(self, frame: av.VideoFrame) -> None:
        """From the decoder's thread."""
        if not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._on_frame, frame)

    def _on_frame(self, frame: av.VideoFrame) -> None:
        if self.mode != "reencode":
            return
        slot = round((time.time() - self._started_at) * 30) * FRAME_TICKS
        frame.pts = max(slot, self._last_pts + FRAME_TICKS)
        frame.time_base = VIDEO_TIME_BASE
        self._last_pts = frame.pts
        self._last_frame = frame
        for track in self._tracks:
            track.put(frame)  # type: ignore[attr-defined]  # aiortc types the set as MediaStreamTrack; ours are FrameTracks
