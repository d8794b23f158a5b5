"""One camera's pipeline: reader -> detector -> tracker -> rules -> evidence -> event sink.

Rules decide; what they return to keep across restarts is written here, through each rule's
binding (``edge/rules/bound.py``), as is what a request (an operator's approval) changes in one.

Events wait in a short FIFO until their clip's post-roll has been recorded, so every
event leaves with all its evidence, and the events of one episode leave in order. Evidence
that cannot be made (no space left, no video of the moment) is left out and named in the
event's ``details.missing_media``: the event itself always goes. Should even the outbox
be full, events wait here, in order, and are offered again at every frame.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

import structlog

from contract.event import Event, MediaKind, MediaRef, MissingMedia, build_details, new_event_id
from edge.analysis.change import ChangeGate
from edge.analysis.detector import Detector
from edge.analysis.tracking import Tracker
from edge.capture.frames import Frame
from edge.capture.packet_ring import PacketRing
from edge.capture.reader import Reader
from edge.config import CameraConfig
from edge.delivery.health import CameraHealthTracker
from edge.delivery.outbox import OutboxFull
from edge.evidence.recorder import EvidenceWriter
from edge.rules.base import AnalysedFrame, Finding, Rule, RuleState
from edge.rules.registry import build_rules, zones_of

log = structlog.get_logger(__name__)

EventSink = Callable[[Event], None]
RuleT = TypeVar("RuleT")

MAX_UNSENT = 1000
"""Events held in memory while the outbox is full; each is logged in full when it is first held."""


def _utc(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


@dataclass(frozen=True)
class CameraContext:
    """What a pipeline needs besides its camera: who it is and where its output goes."""

    device_id: str
    detector: Detector
    tracker_yaml: str
    evidence: EvidenceWriter
    sink: EventSink
    state_dir: Path | None = None
    """Where rules keep what must survive a restart (approved reference images); None: memory only."""


class CameraPipeline:
    def __init__(self, camera: CameraConfig, context: CameraContext, health: CameraHealthTracker) -> None:
        self.camera = camera
        self.health = health
        self._context = context
        self._zones = zones_of(camera)
        self._rules = build_rules(camera, context.state_dir)
        self._tracker = Tracker(context.tracker_yaml, camera.analysis_fps)
        self.changes = ChangeGate.for_camera(camera)
        evidence = context.evidence
        self.ring = PacketRing(evidence.pre_s + evidence.post_s + 10.0)
        self._pending: deque[Finding] = deque()
        self._unsent: deque[Event] = deque(maxlen=MAX_UNSENT)
        self.events = 0
        self.frames = 0
        self.latest_frame: Frame | None = None

    def run(
        self,
        stop: threading.Event,
        *,
        live: bool,
        start_ts: float | None = None,
        on_frame: Callable[[Frame], None] | None = None,
    ) -> None:
        """Analyse until ``stop`` is set (live) or the recording ends, then close open episodes."""
        reader = Reader(
            self.camera.id,
            self.camera.source,
            self.camera.reader,
            analysis_fps=self.camera.analysis_fps,
            live=live,
            health=self.health,
            ring=self.ring,
            start_ts=start_ts,
        )
        last_ts: float | None = None
        for frame in reader.frames(stop):
            self.process(frame)
            last_ts = frame.ts
            if on_frame:
                on_frame(frame)
        if last_ts is not None and not live:
            self.close(last_ts)
        log.info("pipeline finished", camera=self.camera.id, events=self.events, live=live)

    def process(self, frame: Frame) -> None:
        detections = self.changes.detect(frame, self._context.detector.detect)
        analysed = AnalysedFrame(frame, self._tracker.update(detections, frame.image))
        self.health.frame_analysed()
        self.frames += 1
        self.latest_frame = frame
        for bound in self._rules:
            for finding in bound.update(analysed):
                self._queue(finding)
        self._flush(final=False)

    def rule(self, zone_id: str, kind: type[RuleT]) -> RuleT | None:
        """The rule of this kind bound to ``zone_id``, for requests that address one (reference approval)."""
        return next(
            (b.rule for b in self._rules if isinstance(b.rule, kind) and b.rule.zone_id == zone_id), None
        )

    def apply(self, rule: Rule, change: Callable[[], RuleState | None]) -> None:
        """Run a request's ``change`` to one of this pipeline's rules (from any thread): between two of
        its frames, with the state it returns written before this returns."""
        bound = next((b for b in self._rules if b.rule is rule), None)
        if bound is None:
            raise ValueError(f"camera '{self.camera.id}' runs no such rule in zone '{rule.zone_id}'")
        bound.apply(change)

    def close(self, ts: float) -> None:
        """The input has ended: end open episodes and send everything still waiting for its clip."""
        for bound in self._rules:
            self._pending.extend(bound.close(ts))
        self._flush(final=True)

    def _queue(self, finding: Finding) -> None:
        if finding.clip_at is not None:
            log.debug(
                "event waits for its post-roll",
                camera=self.camera.id,
                episode=finding.episode,
                clip_at=finding.clip_at,
                post_s=self._context.evidence.post_s,
            )
        self._pending.append(finding)

    def _flush(self, *, final: bool) -> None:
        self._send()
        newest = self.ring.newest_ts
        while self._pending:
            head = self._pending[0]
            due = head.clip_at is not None and (
                newest is None or newest < head.clip_at + self._context.evidence.post_s
            )
            if due and not final:
                return
            self._pending.popleft()
            self._emit(head)

    def _emit(self, finding: Finding) -> None:
        event = self._event(finding, *self._media(finding))
        self._unsent.append(event)
        self._send()
        if self._unsent and self._unsent[-1] is event:
            log.error(
                "outbox full: event held in memory until it has room",
                camera=self.camera.id,
                event_id=str(event.event_id),
                held=len(self._unsent),
                payload=event.to_json(),
            )

    def _send(self) -> None:
        """Offer held events to the sink, oldest first; stop at the first the outbox has no room for."""
        while self._unsent:
            event = self._unsent[0]
            try:
                self._context.sink(event)
            except OutboxFull:
                return
            self._unsent.popleft()
            self.events += 1
            log.info(
                "event",
                camera=self.camera.id,
                zone=event.zone_id,
                type=event.type.value,
                phase=event.phase.value,
                event_id=str(event.event_id),
                media=len(event.media),
                missing=len(event.details.missing_media),
            )

    def _media(self, finding: Finding) -> tuple[list[MediaRef], list[MissingMedia]]:
        """The finding's evidence; a piece that fails is logged and left out, with its reason, never
        the event itself."""
        zone, evidence = self._zones[finding.zone_id], self._context.evidence
        media: list[MediaRef] = []
        missing: list[MissingMedia] = []
        for snapshot in finding.snapshots:
            try:
                media.append(evidence.snapshot(snapshot, zone))
            except (OSError, RuntimeError) as err:
                log.error("snapshot failed", camera=self.camera.id, episode=finding.episode, error=str(err))
                missing.append(_missing(MediaKind.snapshot, snapshot.label, str(err)))
        if finding.clip_at is not None:
            clip = self._clip(finding, finding.clip_at)
            if isinstance(clip, MediaRef):
                media.append(clip)
            else:
                missing.append(clip)
        return media, missing

    def _clip(self, finding: Finding, at: float) -> MediaRef | MissingMedia:
        try:
            clip = self._context.evidence.clip(self.ring, at)
        except (OSError, ValueError) as err:  # PyAV's errors derive from these
            log.error("clip failed", camera=self.camera.id, episode=finding.episode, error=str(err))
            reason = str(err)
        else:
            if clip is not None:
                return clip
            reason = "the camera's packet ring holds no video of that moment (camera offline?)"
        log.warning(
            "event leaves without a clip", camera=self.camera.id, episode=finding.episode, reason=reason
        )
        return _missing(MediaKind.clip, "clip", reason)

    def _event(self, finding: Finding, media: list[MediaRef], missing: list[MissingMedia]) -> Event:
        """The finding as the contract's event; its details are checked against the type's model
        here, so a key a rule misspells fails at once rather than at the centre."""
        camera = self.camera
        details = build_details(
            finding.type,
            {
                **(finding.details.model_dump(exclude_unset=True) if finding.details else {}),
                "episode_id": finding.episode,
                "camera_name": camera.name,
                "district": camera.district,
                "grid": camera.grid,
                "site": camera.site,
                **({"location": camera.location.model_dump()} if camera.location else {}),
                **({"missing_media": missing} if missing else {}),
            },
        )
        return Event(
            event_id=new_event_id(),
            phase=finding.phase,
            type=finding.type,
            device_id=self._context.device_id,
            camera_id=camera.id,
            zone_id=finding.zone_id,
            started_at=_utc(finding.started_at),
            observed_at=_utc(finding.observed_at),
            ended_at=_utc(finding.ended_at) if finding.ended_at is not None else None,
            confidence=finding.confidence,
            details=details,
            media=media,
        )


def _missing(kind: MediaKind, label: str | None, reason: str) -> MissingMedia:
    return MissingMedia(kind=kind, label=label, reason=reason[:500])
