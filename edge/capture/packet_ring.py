"""The last seconds of a camera's encoded video, so that an event clip is a remux, never a re-encode.

Re-encoding a clip would cost more CPU than analysing the camera does; copying the packets
costs almost nothing and keeps the evidence bit-identical to what the camera sent.

The ring outlives the reader's connections: a reconnect opens a new input container whose
stream may differ (new SPS/PPS, timestamps restarting), so packets are grouped by *segment*
(one input stream) and a clip only ever uses one segment.

Live view subscribes to the ring (``subscribe``): it gets the packets since the newest keyframe
at once, so a new viewer starts without waiting for the camera's next keyframe, then every new
packet, handed over under the ring's lock so that nothing is lost or repeated in between.
"""

from __future__ import annotations

import io
import itertools
import os
import statistics
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import structlog
from av.container import OutputContainer
from av.video.stream import VideoStream

log = structlog.get_logger(__name__)

MUX_OPTIONS = {"movflags": "+faststart"}  # index first, so a browser can seek before the download ends
MAX_GAP_S = 1.0
"""An arrival gap longer than this (the box frozen by SIGSTOP or swapping, a silent camera) counts as
this much video: the ring's age is measured in the video it received, so the first packet after a
pause does not age out the packets that an event waiting for its post-roll still needs."""


class _Segment:
    """One input stream: the codec parameters a muxer needs once the input container is closed.

    An input stream's memory is freed when its container closes, so the parameters (codec,
    size, extradata with SPS/PPS) are copied into a stream of a never-written output container.
    ``source`` is kept only to recognise packets of the same stream (by identity); it is never read.
    """

    def __init__(self, source: VideoStream) -> None:
        self.source = source
        self.time_base: Fraction = source.time_base or Fraction(1, 90000)
        self._holder: OutputContainer = av.open(io.BytesIO(), "w", format="mp4")
        self.template = self._holder.add_stream_from_template(source)
        self.codec = str(
            source.codec_context.name
        )  # the decoder's name ("h264"); the template's is an encoder's

    @property
    def extradata(self) -> bytes | None:
        """The codec's out-of-band parameters (for H.264 from RTSP: SPS and PPS in Annex B form)."""
        return self.template.codec_context.extradata


@dataclass(frozen=True, slots=True)
class StoredPacket:
    """An encoded packet copied out of FFmpeg's buffers, with its arrival time ``ts``."""

    data: bytes
    pts: int | None
    dts: int | None
    duration: int
    keyframe: bool
    ts: float
    segment: _Segment


PacketListener = Callable[[StoredPacket], None]


@dataclass(frozen=True, slots=True)
class _Timing:
    pts: int
    dts: int
    duration: int


class PacketRing:
    """Last ``seconds`` of ENCODED video packets of one camera, for event clips by remuxing.

    Memory is bounded by age: packets more than ``seconds`` of received video before the newest
    are dropped, and so are leading non-keyframes (useless without their keyframe). Age counts
    video, not wall time: a gap in arrivals counts as at most ``MAX_GAP_S``. A clip starts at a
    keyframe, so size ``seconds`` as pre-roll + post-roll + one keyframe interval for full pre-rolls.
    """

    def __init__(self, seconds: float) -> None:
        if seconds <= 0:
            raise ValueError(f"PacketRing seconds must be > 0, got {seconds}")
        self.seconds = seconds
        self._lock = threading.Lock()
        self._packets: deque[StoredPacket] = deque()
        self._received: deque[float] = deque()
        """Per packet in ``_packets``: seconds of video received up to it (``_video_s`` then)."""
        self._video_s = 0.0
        self._segment: _Segment | None = None
        self._listeners: list[PacketListener] = []

    def push(self, packet: av.Packet[VideoStream], ts: float) -> None:
        """Keep a copy of ``packet`` (a video packet whose stream is the muxing template)."""
        if packet.size == 0:
            return  # demux's end-of-stream flush packet
        with self._lock:
            segment = self._segment_of(packet.stream)
            stored = StoredPacket(
                bytes(packet), packet.pts, packet.dts, packet.duration or 0, packet.is_keyframe, ts, segment
            )
            if self._packets:
                self._video_s += min(max(ts - self._packets[-1].ts, 0.0), MAX_GAP_S)
            self._packets.append(stored)
            self._received.append(self._video_s)
            self._trim(self._video_s - self.seconds)
            for listener in self._listeners:
                try:
                    listener(stored)
                except Exception:  # a live viewer's fault must never cost the evidence its packets
                    log.exception("packet listener failed", listener=getattr(listener, "__qualname__", "?"))

    def subscribe(self, listener: PacketListener) -> list[StoredPacket]:
        """Call ``listener`` with every packet pushed from now on (on the pusher's thread, under the
        ring's lock: it must only hand the packet on); returns the packets of the newest segment since
        its last keyframe, which the listener will not be given again."""
        with self._lock:
            self._listeners.append(listener)
            newest = self._packets[-1].segment if self._packets else None
            backlog: list[StoredPacket] = []
            for stored in reversed(self._packets):
                if stored.segment is not newest:
                    break
                backlog.append(stored)
                if stored.keyframe:
                    return backlog[::-1]
            return []

    def unsubscribe(self, listener: PacketListener) -> None:
        with self._lock:
            if listener in self._listeners:
                self._listeners.remove(listener)

    @property
    def newest_ts(self) -> float | None:
        with self._lock:
            return self._packets[-1].ts if self._packets else None

    def write_clip(self, start_ts: float, end_ts: float, path: Path) -> float | None:
        """Write an MP4 of the packets from the last keyframe at/before ``start_ts`` to ``end_ts``.

        The packets before ``start_ts`` are needed to decode from the keyframe but are not shown:
        they get negative timestamps, which the MP4 muxer turns into an edit list, so the clip
        plays (and reports its duration) from ``start_ts``, however far back the keyframe was.

        Uses only the segment that holds ``end_ts`` (or the newest before it). Returns the clip's
        duration in seconds, or None when the ring holds nothing usable for that span.
        """
        with self._lock:
            packets = self._select(start_ts, end_ts)
        if not packets:
            return None
        return _remux(packets, path, start_ts)

    def _segment_of(self, stream: VideoStream) -> _Segment:
        if self._segment is None or self._segment.source is not stream:
            self._segment = _Segment(stream)
        return self._segment

    def _trim(self, cutoff: float) -> None:
        packets, received = self._packets, self._received
        while packets and (received[0] < cutoff or not packets[0].keyframe):
            packets.popleft()
            received.popleft()

    def _select(self, start_ts: float, end_ts: float) -> list[StoredPacket]:
        segment = next((p.segment for p in reversed(self._packets) if p.ts <= end_ts), None)
        span = [p for p in self._packets if p.segment is segment and p.ts <= end_ts]
        keys = [i for i, p in enumerate(span) if p.keyframe]
        if not keys:
            return []
        before = [i for i in keys if span[i].ts <= start_ts]
        return span[before[-1] if before else keys[0] :]


def _remux(packets: list[StoredPacket], path: Path, start_ts: float) -> float:
    """Write ``packets`` (one segment, starting at a keyframe) as an MP4 that is shown from
    ``start_ts``; returns its duration."""
    segment = packets[0].segment
    timings = _rebase(packets)
    shown = next((i for i, p in enumerate(packets) if p.ts >= start_ts), 0)
    shift = timings[shown].dts
    timings = [_Timing(pts=t.pts - shift, dts=t.dts - shift, duration=t.duration) for t in timings]
    partial = path.with_name(path.name + ".part")  # never a half-written clip under the final name
    try:
        with av.open(str(partial), "w", format="mp4", container_options=MUX_OPTIONS) as output:
            stream = output.add_stream_from_template(segment.template)
            for stored, timing in zip(packets, timings, strict=True):
                packet = av.Packet(stored.data)
                packet.pts, packet.dts, packet.duration = timing.pts, timing.dts, timing.duration
                packet.time_base = segment.time_base
                packet.is_keyframe = stored.keyframe
                packet.stream = stream
                output.mux(packet)
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
    end = max(t.pts + t.duration for t in timings)
    return float(end * segment.time_base)


def _rebase(packets: list[StoredPacket]) -> list[_Timing]:
    """Timestamps that start at 0 and strictly increase in decode order.

    RTSP may deliver packets without timestamps (FFmpeg's RTP demuxer leaves the first ones
    unset until it has synchronised), and durations may be 0; both are filled from neighbours.
    """
    default = _typical_duration(packets)
    dts = _fill_missing(
        [p.dts if p.dts is not None else p.pts for p in packets], [p.duration or default for p in packets]
    )
    for i in range(1, len(dts)):
        dts[i] = max(dts[i], dts[i - 1] + 1)
    origin = dts[0]
    timings = []
    for i, stored in enumerate(packets):
        duration = stored.duration or (dts[i + 1] - dts[i] if i + 1 < len(dts) else default)
        pts = max(stored.pts - origin, dts[i] - origin) if stored.pts is not None else dts[i] - origin
        timings.append(_Timing(pts=pts, dts=dts[i] - origin, duration=duration))
    return timings


def _typical_duration(packets: list[StoredPacket]) -> int:
    durations = [p.duration for p in packets if p.duration > 0]
    if durations:
        return int(statistics.median(durations))
    stamps = [p.dts for p in packets if p.dts is not None]
    steps = [b - a for a, b in itertools.pairwise(stamps) if b > a]
    return int(statistics.median(steps)) if steps else 1


def _fill_missing(values: list[int | None], durations: list[int]) -> list[int]:
    """Unknown timestamps continue from the previous one, or lead up to the first known one."""
    filled = list(values)
    for i in range(1, len(filled)):
        previous = filled[i - 1]
        if filled[i] is None and previous is not None:
            filled[i] = previous + durations[i - 1]
    for i in range(len(filled) - 2, -1, -1):
        following = filled[i + 1]
        if filled[i] is None and following is not None:
            filled[i] = following - durations[i]
    return [value if value is not None else sum(durations[:i]) for i, value in enumerate(filled)]
