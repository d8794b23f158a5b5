"""Live view on the edge: one aiortc peer connection per viewer, answered over RPC.

``webrtc_offer`` checks the camera and the box's viewer limit, answers the browser's offer with a
send-only H.264 (or, re-encoding, VP8 as a fallback) track from the camera's feed, and returns
the answer with every ICE candidate in it (no trickle: signalling is one MQTT round trip). The
browser's keyframe requests (RTCP PLI/FIR) reach the camera's feed as well as aiortc's encoder.

A viewer is torn down when its connection fails or closes (a closed tab sends a DTLS alert), when
it has not connected ``connect_timeout_s`` after its offer, or when its browser has sent no RTCP
receiver report for ``peer_timeout_s`` (a tab that vanished without a word; ICE consent checks
alone would take about 30 s).
"""

from __future__ import annotations

import asyncio
import base64
import logging
import secrets
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

import cv2
import structlog
from aiortc import RTCConfiguration, RTCIceServer, RTCPeerConnection, RTCRtpSender, RTCSessionDescription
from aiortc.exceptions import InvalidAccessError, InvalidStateError, OperationError
from aiortc.mediastreams import MediaStreamTrack
from aiortc.rtcrtpparameters import RTCRtpCodecCapability
from aiortc.stats import RTCRemoteInboundRtpStreamStats

from contract.rpc import (
    SNAPSHOT,
    WEBRTC_CLOSE,
    WEBRTC_OFFER,
    ErrorCode,
    LiveMode,
    SnapshotReply,
    SnapshotRequest,
    WebrtcAnswer,
    WebrtcClose,
    WebrtcClosed,
    WebrtcOffer,
)
from edge.commands.rpc import LoopThread, RpcError, RpcServer
from edge.config import LiveConfig
from edge.delivery.health import CameraHealthTracker
from edge.live.feed import CameraFeed
from edge.live.tracks import PacketTrack

log = structlog.get_logger(__name__)

WATCH_INTERVAL_S = 1.0
_OFFER_ERRORS = (ValueError, OperationError, InvalidAccessError, InvalidStateError)
"""What aiortc raises for an offer it cannot parse, validate or find a common codec in."""
JPEG_QUALITY = 85


@dataclass(eq=False)
class _Session:
    id: str
    feed: CameraFeed
    pc: RTCPeerConnection
    track: MediaStreamTrack
    sender: RTCRtpSender | None = None
    created: float = field(default_factory=time.monotonic)
    connected: float | None = None
    closing: bool = False


class LiveService:
    def __init__(self, settings: LiveConfig, health: list[CameraHealthTracker], loop: LoopThread) -> None:
        self._settings = settings
        self._loop = loop
        self._feeds = {h.camera_id: CameraFeed(h.camera_id, h, settings, loop.loop) for h in health}
        self._sessions: dict[str, _Session] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        for name in ("aioice", "aiortc"):  # they log every candidate pair and state change at INFO
            if logging.getLogger(name).level == logging.NOTSET:
                logging.getLogger(name).setLevel(logging.WARNING)

    def register(self, rpc: RpcServer) -> None:
        rpc.handle(WEBRTC_OFFER, self.offer)
        rpc.handle(WEBRTC_CLOSE, self.close)
        rpc.handle(SNAPSHOT, self.snapshot)

    def feed(self, camera_id: str) -> CameraFeed:
        try:
            return self._feeds[camera_id]
        except KeyError:
            known = ", ".join(sorted(self._feeds))
            raise RpcError(
                ErrorCode.unknown_camera, f"this box has no camera '{camera_id}' (it has: {known})"
            ) from None

    def stop(self, timeout: float = 10.0) -> None:
        """From any thread but the loop's: close every viewer and stop every source."""
        try:
            self._loop.call(self._close_all(), timeout)
        except Exception:  # the agent's shutdown goes on: the outbox must still be closed cleanly
            log.exception("live view did not stop cleanly", viewers=len(self._sessions))

    # --- RPC handlers, on the loop ----------------------------------------------------------------

    async def offer(self, request: WebrtcOffer) -> WebrtcAnswer:
        feed = self.feed(request.camera_id)
        if len(self._sessions) >= self._settings.max_viewers:
            raise RpcError(
                ErrorCode.viewer_limit,
                f"this box already serves {len(self._sessions)} live viewer(s), "
                f"its limit (live.max_viewers = {self._settings.max_viewers}); try again later",
            )
        feed.check_available()
        pc = RTCPeerConnection(RTCConfiguration(iceServers=self._ice_servers()))
        try:
            track = feed.open_track()
        except BaseException:
            await pc.close()
            raise
        session = _Session(secrets.token_urlsafe(9), feed, pc, track)
        self._sessions[session.id] = session  # counts against the limit from now on
        try:
            answer = await self._answer(session, request.sdp)
        except BaseException:
            await self._close(session, "offer failed")
            raise
        self._spawn(self._watch(session))
        log.info(
            "live viewer added",
            camera=feed.camera_id,
            session=session.id,
            mode=feed.mode,
            viewers=len(self._sessions),
        )
        return WebrtcAnswer(sdp=answer, session_id=session.id, mode=track_mode(session.track))

    async def close(self, request: WebrtcClose) -> WebrtcClosed:
        session = self._sessions.get(request.session_id)
        if session is None:
            raise RpcError(
                ErrorCode.unknown_session, f"no live session '{request.session_id}' (already closed?)"
            )
        await self._close(session, "closed by request")
        return WebrtcClosed(session_id=session.id)

    async def snapshot(self, request: SnapshotRequest) -> SnapshotReply:
        feed = self.feed(request.camera_id)
        feed.check_available()
        frame = feed.latest
        if frame is None:
            raise RpcError(
                ErrorCode.camera_unavailable, f"camera '{request.camera_id}' has no analysed frame yet"
            )
        ok, jpeg = await asyncio.get_running_loop().run_in_executor(
            None, lambda: cv2.imencode(".jpg", frame.image, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
        )
        if not ok:
            raise RpcError(
                ErrorCode.internal, f"camera '{request.camera_id}': the frame could not be encoded as JPEG"
            )
        height, width = frame.image.shape[:2]
        return SnapshotReply(
            jpeg_base64=base64.b64encode(jpeg.tobytes()).decode("ascii"),
            taken_at=frame.ts,
            width=width,
            height=height,
        )

    # --- sessions ---------------------------------------------------------------------------------

    async def _answer(self, session: _Session, sdp: str) -> str:
        pc, feed = session.pc, session.feed
        transceiver = pc.addTransceiver(session.track, direction="sendonly")
        transceiver.setCodecPreferences(_codecs(h264_only=feed.mode == "passthrough"))
        session.sender = transceiver.sender
        _on_keyframe_request(transceiver.sender, lambda: feed.keyframe_requested(session.track))

        @pc.on("connectionstatechange")
        def changed() -> None:
            state = pc.connectionState
            if state == "connected" and session.connected is None:
                session.connected = time.monotonic()
                log.info(
                    "live viewer connected",
                    camera=feed.camera_id,
                    session=session.id,
                    after_s=round(session.connected - session.created, 3),
                )
            elif state in ("failed", "closed"):
                self._spawn(self._close(session, f"connection {state}"))

        try:
            await pc.setRemoteDescription(RTCSessionDescription(_without_mdns_candidates(sdp), "offer"))
        except _OFFER_ERRORS as err:
            wanted = "H.264" if feed.mode == "passthrough" else "H.264 or VP8"
            raise RpcError(
                ErrorCode.unsupported,
                f"the browser's offer cannot be answered ({err}); live view "
                f"needs a video track that the browser receives as {wanted}",
            ) from err
        await pc.setLocalDescription(await pc.createAnswer())
        return str(pc.localDescription.sdp)

    async def _watch(self, session: _Session) -> None:
        """Close the viewer once it stops showing signs of life."""
        settings = self._settings
        while not session.closing:
            await asyncio.sleep(WATCH_INTERVAL_S)
            now = time.monotonic()
            if session.connected is None:
                if now - session.created > settings.connect_timeout_s:
                    await self._close(session, f"not connected within {settings.connect_timeout_s:g} s")
                continue
            heard = await self._last_report(session) or session.connected
            if now - heard > settings.peer_timeout_s:
                await self._close(session, f"no report from the browser for {now - heard:.1f} s")

    @staticmethod
    async def _last_report(session: _Session) -> float | None:
        """When the browser's last RTCP receiver report arrived (monotonic), if it sent any."""
        if session.sender is None:
            return None
        stats = await session.sender.getStats()
        reports = [s for s in stats.values() if isinstance(s, RTCRemoteInboundRtpStreamStats)]
        if not reports:
            return None
        age = time.time() - max(r.timestamp.timestamp() for r in reports)
        return time.monotonic() - age

    async def _close(self, session: _Session, reason: str) -> None:
        if session.closing:
            return
        session.closing = True
        self._sessions.pop(session.id, None)
        session.feed.close_track(session.track)
        await session.pc.close()
        lived = time.monotonic() - session.created
        log.info(
            "live viewer closed",
            camera=session.feed.camera_id,
            session=session.id,
            reason=reason,
            lived_s=round(lived, 1),
            sent=getattr(session.track, "sent", None),
            dropped=getattr(session.track, "dropped", None),
            replays=getattr(session.track, "replays", None),
            viewers=len(self._sessions),
        )

    async def _close_all(self) -> None:
        await asyncio.gather(*(self._close(s, "edge stopping") for s in list(self._sessions.values())))
        for feed in self._feeds.values():
            feed.stop()
        for task in list(self._tasks):
            task.cancel()

    def _spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _ice_servers(self) -> list[RTCIceServer]:
        """Never aiortc's default (a public Google STUN server): only what the configuration names."""
        servers = [RTCIceServer(urls=list(self._settings.stun_urls))] if self._settings.stun_urls else []
        turn = self._settings.turn
        if turn is not None:
            servers.append(
                RTCIceServer(urls=list(turn.urls), username=turn.username, credential=turn.credential)
            )
        return servers


def track_mode(track: MediaStreamTrack) -> LiveMode:
    return "passthrough" if isinstance(track, PacketTrack) else "reencode"


def _on_keyframe_request(sender: RTCRtpSender, callback: Callable[[], None]) -> None:
    """Also call ``callback`` when the browser asks this sender for a keyframe (RTCP PLI or FIR).

    aiortc answers such a request only by telling its own encoder to make the next frame a
    keyframe (``RTCRtpSender._send_keyframe``, called from its RTCP handler); pre-encoded packets
    pass by that encoder, so pass-through needs to hear of the request itself."""
    forward = sender._send_keyframe

    def requested() -> None:
        forward()
        callback()

    sender._send_keyframe = requested  # type: ignore[method-assign]  # aiortc has no public hook for PLI; see the docstring


def _without_mdns_candidates(sdp: str) -> str:
    """Browsers hide their host addresses behind random ``.local`` names; aioice would spend a
    second trying to resolve each by multicast DNS, which only works on the browser's own LAN.
    Without them the browser's connectivity checks still reach the edge's candidates, and the
    edge answers on the address they came from (a peer-reflexive candidate)."""
    lines = sdp.splitlines(keepends=True)
    return "".join(line for line in lines if not (line.startswith("a=candidate:") and ".local " in line))


def _codecs(*, h264_only: bool) -> list[RTCRtpCodecCapability]:
    """H.264 first (pass-through needs it; re-encoding with x264 is cheaper than VP8), with RTX."""
    codecs = RTCRtpSender.getCapabilities("video").codecs
    wanted = ["video/H264"] if h264_only else ["video/H264", "video/VP8"]
    chosen = [c for kind in wanted for c in codecs if c.mimeType == kind]
    return chosen + [c for c in codecs if c.mimeType == "video/rtx"]
