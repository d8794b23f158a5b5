"""Re-encode mode's source: one decoder per camera, in its own thread, however many viewers.

It decodes the ring's packets (the reader converts only the frames analysis samples, so its
decoded frames are not there to share) and hands each new frame to the loop. A new source
starts from the newest keyframe: the packets up to now are decoded at once and only the last
frame is shown, so the first picture does not wait for the camera's next keyframe.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable

import av
import structlog

from edge.capture.packet_ring import StoredPacket

log = structlog.get_logger(__name__)

MAX_QUEUE = 120
FrameSink = Callable[[av.VideoFrame], None]


class Decoder:
    def __init__(self, camera_id: str, sink: FrameSink) -> None:
        self._camera_id = camera_id
        self._sink = sink
        self._queue: queue.Queue[StoredPacket | None] = queue.Queue(MAX_QUEUE)
        self._thread = threading.Thread(target=self._run, name=f"live-decode-{camera_id}", daemon=True)
        self._burst = 0
        self._want_keyframe = False
        self.dropped = 0

    def start(self, backlog: list[StoredPacket]) -> None:
        self._burst = len(backlog)
        self._want_keyframe = not backlog
        for packet in backlog[-MAX_QUEUE:]:
            self._queue.put_nowait(packet)
        self._thread.start()

    def put(self, packet: StoredPacket) -> None:
        """From the loop; never blocks. A full queue (decoder behind) skips to the next keyframe."""
        if self._want_keyframe and not packet.keyframe:
            self.dropped += 1
            return
        try:
            self._queue.put_nowait(packet)
            self._want_keyframe = False
        except queue.Full:
            self.dropped += 1
            self._want_keyframe = True

    def stop(self) -> None:
        """Ask the thread to end after its current packet; returns at once (it runs on the loop)."""
        while True:
            try:
                self._queue.put_nowait(None)
                break
            except queue.Full:
                self._drain()

    def _drain(self) -> None:
        try:
            while True:
                self._queue.get_nowait()
        except queue.Empty:
            pass

    def _run(self) -> None:
        reason = "stopped"
        context: av.VideoCodecContext | None = None
        segment: object = None
        try:
            while (packet := self._queue.get()) is not None:
                if context is None or packet.segment is not segment:  # a reconnect: new parameters
                    segment, context = packet.segment, _decoder_for(packet)
                frames = _decode(context, packet)
                self._burst -= 1
                if frames and self._burst <= 0:
                    self._sink(frames[-1])
        except Exception as err:
            reason = f"failed: {err!r}"
            log.exception("live decoder failed", camera=self._camera_id)
        log.info("live decoder ended", camera=self._camera_id, reason=reason, dropped=self.dropped)


def _decoder_for(packet: StoredPacket) -> av.VideoCodecContext:
    """Slice threads at most: frame threads would hold back the newest frame by a frame per thread."""
    context = av.CodecContext.create(packet.segment.codec, "r")
    if packet.segment.extradata:
        context.extradata = packet.segment.extradata
    context.thread_type = "SLICE"
    return context  # type: ignore[return-value]  # PyAV types create() as the base CodecContext; a video codec gives a video one


def _decode(context: av.VideoCodecContext, stored: StoredPacket) -> list[av.VideoFrame]:
    """A damaged packet costs its frames, not the source."""
    packet = av.Packet(stored.data)
    packet.pts, packet.dts = stored.pts, stored.dts
    try:
        return list(context.decode(packet))
    except av.InvalidDataError:
        return []
