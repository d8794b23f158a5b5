"""The reader of one camera: PyAV in, sampled BGR frames out, every encoded packet into the ring.

Parking, dust and building change slowly, so by default (``keyframes_only``) the reader decodes
keyframes only: every packet goes into the ring, but only keyframes reach the decoder, at most
``analysis_fps`` of them a second. A camera whose keyframes come further apart than ``max_gap_s``
(the gap its rules can bear) also has the frame due ``max_gap_s`` after the last one analysed
decoded, with the packets since the keyframe that it refers to; so a short GOP costs one decode per
GOP and a long one no more than decoding that GOP up to the frames needed. With ``keyframes_only``
off, every packet is decoded (H.264 needs its references) and ``analysis_fps`` frames a second are
converted. Measured on a 1080p25 clip with a keyframe every 2 s: decoding keyframes only costs a tenth of
decoding every frame, and the whole analysis a quarter (``gridwatch-edge bench``).

Live cameras (``live=True``) are read by a worker thread that never waits for analysis: it keeps
draining the socket, so packet timestamps are true arrival times, the ring's pre-roll is complete
and the stall watchdog only fires on a silent camera, never on a busy detector. The consumer gets
the newest sampled frame (older ones are dropped and counted when it falls behind). Connection
loss, stalls (no packet for ``stall_timeout_s``) and end of stream lead to reconnects, forever,
with exponential back-off and jitter; the health tracker counts every reconnect attempt.

Recordings (``live=False``) are read in the consumer's thread, as fast as it consumes, with no
frame dropped; their timestamps follow the media: ``start_ts`` + the frame's pts in seconds, where
``start_ts`` defaults to the container's ``creation_time`` metadata, or 0.0 when it has none.
"""

from __future__ import annotations

import re
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime

import av
import structlog
from av.container import InputContainer
from av.video.stream import VideoStream
from tenacity import RetryCallState, Retrying, wait_exponential_jitter

from contract.status import CameraState
from edge.capture.frames import Frame
from edge.capture.packet_ring import PacketRing
from edge.config import ReaderConfig
from edge.delivery.health import CameraHealthTracker

log = structlog.get_logger(__name__)

_CREDENTIALS = re.compile(r"(?<=://)[^/@\s]+@")
_POLL_S = 0.2  # how often the consumer side looks at ``stop`` while waiting for a frame
_SLACK_S = 1e-6  # float rounding in due times must not skip a frame that is exactly due
_STREAM_ERRORS = (av.FFmpegError, OSError)


class ReaderError(RuntimeError):
    """A source that cannot be read at all (raised for recordings; live cameras retry instead)."""


class ConnectTimeout(ReaderError):
    """The camera did not answer within ``connect_timeout_s``.

    PyAV's timeout interrupts FFmpeg, and FFmpeg's RTSP demuxer turns that interruption into
    "Invalid data found when processing input", so a camera that accepts the connection and then
    says nothing looked like one that sends garbage. An open that failed only once the connect
    timeout had run out failed because of it: the interrupt fires exactly then.
    """


def mask_credentials(text: str) -> str:
    """``rtsp://user:pass@host/...`` -> ``rtsp://***@host/...`` anywhere in ``text`` (URLs, FFmpeg errors)."""
    return _CREDENTIALS.sub("***@", text)


def recording_start(container: InputContainer) -> float:
    """The recording's ``creation_time`` as epoch seconds, or 0.0 when absent or unreadable."""
    created = container.metadata.get("creation_time")
    try:
        return datetime.fromisoformat(created).timestamp() if created else 0.0
    except ValueError:
        return 0.0


class _Sampler:
    """About ``fps`` frames per second of media: the first frame, then each one at or after the due
    time, which advances by exactly 1/fps (no drift), or restarts after a gap (no burst)."""

    def __init__(self, fps: float) -> None:
        self._period = 1.0 / fps
        self._due: float | None = None

    def take(self, ts: float) -> bool:
        due = self._due
        if due is None or ts - due >= self._period:  # the first frame, or after a gap: restart here
            due = ts
        elif ts + _SLACK_S < due:
            return False
        self._due = due + self._period
        return True


@dataclass
class ReaderStats:
    """What one reader did, for benchmarks and sizing: every packet is read, fewer are decoded."""

    packets: int = 0
    decoded: int = 0


class _EveryFrame:
    """``keyframes_only`` off: every packet is decoded; frames are sampled at ``analysis_fps``."""

    thread_type = "AUTO"

    def __init__(self, fps: float) -> None:
        self._sampler = _Sampler(fps)

    def to_decode(self, packet: av.Packet[VideoStream]) -> list[av.Packet[VideoStream]]:
        return [packet]

    def wanted(self, ts: float) -> bool:
        return self._sampler.take(ts)


class _Keyframes:
    """Keyframes, at most ``fps`` a second; between them, the frame due ``max_gap_s`` after the last one
    taken, decoded from the keyframe on (its references).

    The decoder gets only the packets chosen here, so it must not hold frames back: slice threads, not
    frame threads, which would delay each keyframe until the next ones are decoded (seconds, at one a GOP).
    """

    thread_type = "SLICE"

    def __init__(self, fps: float, max_gap_s: float) -> None:
        self._period = 1.0 / fps
        self._gap = max_gap_s
        self._last: float | None = None
        self._backlog: list[av.Packet[VideoStream]] = []  # the GOP's packets not yet decoded, keyframe first
        self._in_gop = False  # a keyframe has come: the packets after it can be decoded
        self._chosen: set[float] = set()

    def to_decode(self, packet: av.Packet[VideoStream]) -> list[av.Packet[VideoStream]]:
        """The packets to decode now: none, or the backlog up to a packet whose frame is due."""
        if not packet.size:
            return [packet]  # the end: flush the decoder
        ts = packet.opaque
        if not isinstance(ts, float):
            return []  # never: _decode stamps every packet with data
        if packet.is_keyframe:
            self._backlog, self._in_gop = [packet], True
            due = self._last is None or ts - self._last + _SLACK_S >= self._period
        elif self._in_gop:
            self._backlog.append(packet)
            due = self._last is not None and ts - self._last + _SLACK_S >= self._gap
        else:
            return []  # joined mid-GOP: nothing decodes before the first keyframe
        if not due:
            return []
        self._last = ts
        self._chosen.add(ts)
        backlog, self._backlog = self._backlog, []
        return backlog

    def wanted(self, ts: float) -> bool:
        """Frames leave the decoder in time order: a chosen time before ``ts`` lost its frame to damage."""
        taken = ts in self._chosen
        self._chosen = {chosen for chosen in self._chosen if chosen > ts}
        return taken


class _Backoff:
    """Delays between reconnects: tenacity's exponential back-off with jitter, reset by a good stream."""

    def __init__(self, initial_s: float, max_s: float) -> None:
        self._wait = wait_exponential_jitter(multiplier=initial_s, max=max_s, jitter=initial_s)
        self._attempt = RetryCallState(Retrying(), fn=None, args=(), kwargs={})

    def next_delay(self) -> float:
        delay = self._wait(self._attempt)
        self._attempt.attempt_number += 1
        return delay

    def reset(self) -> None:
        self._attempt.attempt_number = 1


class _Handoff:
    """One slot from the live worker to the consumer: the newest frame wins, so a busy consumer
    analyses fresh frames instead of an ever older backlog."""

    def __init__(self) -> None:
        self._slot: deque[Frame] = deque(maxlen=1)
        self._ready = threading.Condition()
        self.dropped = 0
        self.error: BaseException | None = None

    def put(self, frame: Frame) -> None:
        with self._ready:
            self.dropped += len(self._slot)
            self._slot.append(frame)
            self._ready.notify()

    def get(self, timeout: float) -> Frame | None:
        with self._ready:
            if not self._slot:
                self._ready.wait(timeout)
            return self._slot.popleft() if self._slot else None


class Reader:
    """PyAV reader of one camera: decodes only what analysis needs, feeds the ring with every encoded video packet."""

    def __init__(
        self,
        camera_id: str,
        source: str,
        settings: ReaderConfig,
        *,
        analysis_fps: float,
        live: bool,
        health: CameraHealthTracker,
        ring: PacketRing | None = None,
        start_ts: float | None = None,
    ) -> None:
        if analysis_fps <= 0:
            raise ValueError(f"camera '{camera_id}': analysis_fps must be > 0, got {analysis_fps}")
        self._camera_id = camera_id
        self._source = source
        self._settings = settings
        self._fps = analysis_fps
        self._live = live
        self._health = health
        self._ring = ring
        self._start_ts = start_ts
        self._log = log.bind(camera=camera_id)
        self.stats = ReaderStats()

    def frames(self, stop: threading.Event) -> Iterator[Frame]:
        """Sampled frames until ``stop`` is set, or (recordings) the end; the camera is then ``stopped``."""
        ended = "stop requested" if self._live else "end of recording"
        with self._running(stop, ended):
            yield from (self._live_frames(stop) if self._live else self._recorded_frames(stop))

    @contextmanager
    def _running(self, stop: threading.Event, ended: str) -> Iterator[None]:
        reason = ended
        try:
            yield
            reason = "stop requested" if stop.is_set() else ended
        except GeneratorExit:
            reason = "closed by its consumer"
            raise
        except Exception as err:
            reason = f"failed: {mask_credentials(str(err))}"
            raise
        finally:
            self._health.set_state(CameraState.stopped, reason)
            self._log.info("reader stopped", reason=reason)

    def _recorded_frames(self, stop: threading.Event) -> Iterator[Frame]:
        try:
            with self._open() as container:
                start = self._start_ts if self._start_ts is not None else recording_start(container)
                self._health.set_state(CameraState.streaming)
                yield from self._decode(container, stop, _media_clock(start))
        except _STREAM_ERRORS as err:
            raise ReaderError(
                f"camera '{self._camera_id}': cannot read '{mask_credentials(self._source)}': "
                f"{mask_credentials(str(err))}"
            ) from err

    def _live_frames(self, stop: threading.Event) -> Iterator[Frame]:
        halt, handoff = threading.Event(), _Handoff()
        worker = threading.Thread(
            target=self._work, args=(halt, handoff), name=f"reader-{self._camera_id}", daemon=True
        )
        worker.start()
        try:
            while not stop.is_set():
                frame = handoff.get(_POLL_S)
                if frame is not None:
                    yield frame
                elif not worker.is_alive():
                    raise ReaderError(f"camera '{self._camera_id}': reader thread died") from handoff.error
        finally:
            halt.set()
            worker.join()
            if handoff.dropped:
                self._log.info("frames dropped while analysis was busy", dropped=handoff.dropped)

    def _work(self, halt: threading.Event, handoff: _Handoff) -> None:
        """The live worker: connect, stream, back off, reconnect, until ``halt``."""
        backoff = _Backoff(self._settings.backoff_initial_s, self._settings.backoff_max_s)
        try:
            while not halt.is_set():
                reason = self._session(halt, handoff, backoff)
                if halt.is_set():
                    return
                delay = backoff.next_delay()
                self._health.set_state(CameraState.backoff, reason)
                self._log.warning("stream lost, reconnecting", reason=reason, retry_in_s=round(delay, 2))
                if halt.wait(delay):
                    return
                self._health.reconnected()
        except BaseException as err:
            handoff.error = err
            raise

    def _session(self, halt: threading.Event, handoff: _Handoff, backoff: _Backoff) -> str:
        """One connection; returns why it ended. The first decoded frame marks the stream healthy."""
        self._health.set_state(CameraState.connecting)
        try:
            container = self._open()
        except (*_STREAM_ERRORS, ReaderError) as err:
            return f"cannot connect: {mask_credentials(str(err))}"
        with container:
            try:
                for frame in self._decode(container, halt, _arrival_clock):
                    if self._health.state is not CameraState.streaming:
                        self._health.set_state(CameraState.streaming)
                        backoff.reset()
                    handoff.put(frame)
            except av.ExitError:  # PyAV's read timeout interrupted FFmpeg
                return f"stalled: no packet for {self._settings.stall_timeout_s:g} s"
            except _STREAM_ERRORS as err:
                return f"stream failed: {mask_credentials(str(err))}"
        return "end of stream"

    def _open(self) -> InputContainer:
        options = {"rtsp_transport": "tcp"} if self._source.startswith("rtsp://") else {}
        timeout = (self._settings.connect_timeout_s, self._settings.stall_timeout_s) if self._live else None
        self._log.info("opening source", source=mask_credentials(self._source), live=self._live)
        started = time.monotonic()
        try:
            container = av.open(self._source, options=options, timeout=timeout)
        except av.FFmpegError as err:
            if timeout is not None and time.monotonic() - started >= self._settings.connect_timeout_s:
                raise ConnectTimeout(
                    f"timed out: no answer within {self._settings.connect_timeout_s:g} s"
                ) from err
            raise
        if not container.streams.video:
            container.close()
            raise ReaderError(
                f"camera '{self._camera_id}': '{mask_credentials(self._source)}' has no video stream"
            )
        return container

    def _decode(
        self,
        container: InputContainer,
        halt: threading.Event,
        clock: Callable[[av.Packet[VideoStream]], float],
    ) -> Iterator[Frame]:
        """Every packet: stamped, into the ring; the chosen ones decoded; the wanted frames converted and yielded."""
        stream = container.streams.video[0]
        # A ReaderConfig outside a camera has no rules to derive its gap from: the analysis period then.
        gap = self._settings.max_gap_s or 1.0 / self._fps
        choice = _Keyframes(self._fps, gap) if self._settings.keyframes_only else _EveryFrame(self._fps)
        context = stream.codec_context
        context.thread_type = choice.thread_type
        context.copy_opaque = (
            True  # each frame keeps its own packet's timestamp through reordering and threads
        )
        for packet in container.demux(stream):
            if halt.is_set():
                return
            if packet.size:
                packet.opaque = clock(packet)
                if self._ring is not None:
                    self._ring.push(packet, packet.opaque)
                self._health.frame_received(time.time())
                self.stats.packets += 1
            for chosen in choice.to_decode(packet):
                for decoded in self._decoded(stream, chosen):
                    self.stats.decoded += 1
                    ts = decoded.opaque
                    if isinstance(ts, float) and choice.wanted(ts):
                        yield Frame(
                            image=decoded.to_ndarray(format="bgr24"), ts=ts, keyframe=bool(decoded.key_frame)
                        )

    def _decoded(self, stream: VideoStream, packet: av.Packet[VideoStream]) -> list[av.VideoFrame]:
        """A damaged packet costs its frames, not the connection."""
        try:
            return stream.decode(packet)
        except av.InvalidDataError as err:
            self._log.debug("undecodable packet skipped", error=str(err))
            return []


def _arrival_clock(packet: av.Packet[VideoStream]) -> float:
    return time.time()


def _media_clock(start_ts: float) -> Callable[[av.Packet[VideoStream]], float]:
    """``start_ts`` + pts in seconds; a packet without pts keeps the previous time."""
    last = start_ts

    def stamp(packet: av.Packet[VideoStream]) -> float:
        nonlocal last
        if packet.pts is not None and packet.time_base is not None:
            last = start_ts + float(packet.pts * packet.time_base)
        return last

    return stamp
