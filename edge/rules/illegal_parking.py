"""illegal_parking: a vehicle whose anchor stays put inside a no-parking zone for ``dwell_s``.

The dwell clock starts when a vehicle settles (its box's bottom-centre stops moving
by more than ``move_tolerance`` of its own height) and restarts whenever it moves on.
A track that vanishes and reappears under a new id at the same spot (a passing bus,
a missed detection) keeps its clock: trackers re-number, streets do not.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import structlog
from pydantic import Field

from contract.event import EventType, IllegalParkingDetails, Phase
from edge.analysis.appearance import similarity, thumbnail
from edge.analysis.zones import Zone
from edge.rules.base import AnalysedFrame, Finding, RuleConfig, Snapshot, Verdict, normalised_box
from edge.rules.context import RuleContext

log = structlog.get_logger(__name__)

DEFAULT_CLASSES = ("car", "truck", "bus", "motorcycle")


class IllegalParkingConfig(RuleConfig):
    dwell_s: float = Field(
        default=300.0, gt=0, description="Seconds a vehicle must stay before an event starts."
    )
    classes: list[str] = Field(
        default_factory=lambda: list(DEFAULT_CLASSES),
        min_length=1,
        description="Detector class names that count as vehicles.",
    )
    move_tolerance: float = Field(
        default=0.5,
        gt=0,
        description=(
            "How far the box anchor may drift from where the vehicle settled, as a fraction of the box's "
            "own height, before the dwell clock restarts (absorbs camera jitter and box noise)."
        ),
    )
    min_similarity: float = Field(
        default=0.7,
        ge=-1,
        le=1,
        description=(
            "How alike (normalised cross-correlation, 1 = identical) the box must look to when the vehicle "
            "settled; below it a different vehicle has taken the spot and the dwell clock restarts. "
            "-1 turns the check off."
        ),
    )
    min_presence: float = Field(
        default=0.3,
        ge=0,
        le=1,
        description=(
            "Share of the frames analysed since the vehicle settled in which it must have been seen before "
            "an event starts: a spot that look-alike cars pass through now and then is not a parked car. "
            "0 turns the check off."
        ),
    )
    grace_s: float = Field(
        default=10.0, ge=0, description="Seconds a vehicle must be gone before the event ends."
    )
    min_confidence: float = Field(default=0.3, ge=0, le=1, description="Detections below this are ignored.")

    @property
    def time_scale_s(self) -> float:
        return self.dwell_s


@dataclass
class _Stay:
    """One vehicle's stay in the zone, from the moment it settled."""

    label: str
    anchor: np.ndarray
    height: float
    settled_at: float
    last_seen: float
    box: np.ndarray
    arrival: Snapshot
    looks: np.ndarray
    settled_frame: int
    confidence_sum: float = 0.0
    samples: int = 0
    episode: str | None = None
    track_id: int = -1

    def moved(self, anchor: np.ndarray, tolerance: float) -> bool:
        return float(np.linalg.norm(anchor - self.anchor)) > tolerance * max(self.height, 1.0)

    def same_vehicle(self, looks: np.ndarray, anchor: np.ndarray, config: IllegalParkingConfig) -> bool:
        return (
            not self.moved(anchor, config.move_tolerance)
            and similarity(looks, self.looks) >= config.min_similarity
        )

    @property
    def confidence(self) -> float:
        return self.confidence_sum / max(self.samples, 1)

    def presence(self, frame_index: int) -> float:
        return self.samples / (frame_index - self.settled_frame + 1)


@dataclass(frozen=True)
class _Sighting:
    """One tracked vehicle in the zone in this frame."""

    track_id: int
    label: str
    box: np.ndarray
    anchor: np.ndarray
    confidence: float
    looks: np.ndarray


class IllegalParking:
    type: ClassVar[EventType] = EventType.illegal_parking

    def __init__(self, zone: Zone, config: IllegalParkingConfig, context: RuleContext) -> None:
        self.zone_id = zone.id
        self._log = log.bind(camera=context.camera_id, zone=zone.id, rule=self.type.value)
        self._zone = zone
        self._config = config
        self._classes = set(config.classes)
        self._stays: dict[int, _Stay] = {}
        self._frame_index = 0

    def update(self, analysed: AnalysedFrame) -> Verdict:
        self._frame_index += 1
        sightings = self._sightings(analysed)
        present = {s.track_id for s in sightings}
        findings: list[Finding] = []
        for sighting in sightings:
            finding = self._advance(self._stay_for(sighting, analysed, present), sighting, analysed)
            if finding:
                findings.append(finding)
        findings.extend(self._departures(analysed.frame.ts, present, analysed))
        return Verdict(findings)

    def close(self, ts: float) -> list[Finding]:
        ended = [self._end(stay, stay.last_seen, None) for stay in self._stays.values() if stay.episode]
        self._stays.clear()
        return ended

    def _sightings(self, analysed: AnalysedFrame) -> list[_Sighting]:
        image = analysed.frame.image
        vehicles = analysed.detections.tracked().with_classes(self._classes)
        vehicles = vehicles[vehicles.confidence >= self._config.min_confidence]
        vehicles = vehicles[
            self._zone.contains(vehicles.anchors(), analysed.frame.width, analysed.frame.height)
        ]
        return [
            _Sighting(
                int(vehicles.tracker_id[i]),
                label,
                vehicles.xyxy[i],
                anchor,
                float(vehicles.confidence[i]),
                thumbnail(image, vehicles.xyxy[i]),
            )
            for i, (label, anchor) in enumerate(zip(vehicles.labels(), vehicles.anchors(), strict=True))
        ]

    def _stay_for(self, sighting: _Sighting, analysed: AnalysedFrame, present: set[int]) -> _Stay:
        stay = self._stays.get(sighting.track_id)
        if stay is not None:
            return stay
        orphan = self._orphan_like(sighting, present)
        if orphan is not None:
            stay = self._stays.pop(orphan)
            stay.track_id = sighting.track_id
        else:
            stay = self._new_stay(sighting, analysed)
        self._stays[sighting.track_id] = stay
        return stay

    def _new_stay(self, sighting: _Sighting, analysed: AnalysedFrame) -> _Stay:
        box = sighting.box
        return _Stay(
            label=sighting.label,
            anchor=sighting.anchor,
            height=float(box[3] - box[1]),
            settled_at=analysed.frame.ts,
            last_seen=analysed.frame.ts,
            box=box,
            arrival=self._snapshot("arrival", analysed, box),
            looks=sighting.looks,
            track_id=sighting.track_id,
            settled_frame=self._frame_index,
        )

    def _orphan_like(self, sighting: _Sighting, present: set[int]) -> int | None:
        """A stay whose track was lost, with the same vehicle at the spot where this new track appeared."""
        for track_id, stay in self._stays.items():
            if (
                track_id not in present
                and stay.label == sighting.label
                and stay.same_vehicle(sighting.looks, sighting.anchor, self._config)
            ):
                return track_id
        return None

    def _advance(self, stay: _Stay, sighting: _Sighting, analysed: AnalysedFrame) -> Finding | None:
        ts = analysed.frame.ts
        if not stay.same_vehicle(sighting.looks, sighting.anchor, self._config):
            if stay.episode:
                return None  # pulling out, or another vehicle: it stops counting, and ends after the grace period
            fresh = self._new_stay(sighting, analysed)
            stay.anchor, stay.height, stay.settled_at, stay.arrival, stay.looks, stay.settled_frame = (
                fresh.anchor,
                fresh.height,
                fresh.settled_at,
                fresh.arrival,
                fresh.looks,
                fresh.settled_frame,
            )
            stay.confidence_sum, stay.samples = 0.0, 0
        stay.last_seen, stay.box = ts, sighting.box
        stay.confidence_sum += sighting.confidence
        stay.samples += 1
        if (
            stay.episode is None
            and ts - stay.settled_at >= self._config.dwell_s
            and stay.presence(self._frame_index) >= self._config.min_presence
        ):
            stay.episode = str(uuid.uuid4())
            return self._start(stay, analysed)
        return None

    def _departures(self, ts: float, present: set[int], analysed: AnalysedFrame) -> list[Finding]:
        findings = []
        for track_id in [
            t for t, s in self._stays.items() if t not in present and ts - s.last_seen > self._config.grace_s
        ]:
            stay = self._stays.pop(track_id)
            if stay.episode:
                findings.append(self._end(stay, stay.last_seen, self._snapshot("left", analysed, stay.box)))
        return findings

    def _start(self, stay: _Stay, analysed: AnalysedFrame) -> Finding:
        frame = analysed.frame
        self._log.info("parking started", episode=stay.episode, label=stay.label, track=stay.track_id)
        return Finding(
            phase=Phase.start,
            type=self.type,
            zone_id=self.zone_id,
            episode=stay.episode or "",
            started_at=stay.settled_at,
            observed_at=frame.ts,
            confidence=round(stay.confidence, 3),
            details=self._details(stay, frame.width, frame.height, frame.ts),
            snapshots=(stay.arrival, self._snapshot("dwell", analysed, stay.box)),
            clip_at=frame.ts,
        )

    def _end(self, stay: _Stay, left_at: float, snapshot: Snapshot | None) -> Finding:
        width, height = stay.arrival.frame.width, stay.arrival.frame.height
        self._log.info("parking ended", episode=stay.episode, dwell_s=round(left_at - stay.settled_at, 1))
        return Finding(
            phase=Phase.end,
            type=self.type,
            zone_id=self.zone_id,
            episode=stay.episode or "",
            started_at=stay.settled_at,
            observed_at=left_at,
            ended_at=left_at,
            confidence=round(stay.confidence, 3),
            details=self._details(stay, width, height, left_at),
            snapshots=(snapshot,) if snapshot else (),
        )

    def _details(self, stay: _Stay, width: int, height: int, now: float) -> IllegalParkingDetails:
        return IllegalParkingDetails(
            label=stay.label,
            track_id=stay.track_id,
            dwell_s=round(now - stay.settled_at, 2),
            dwell_threshold_s=self._config.dwell_s,
            bbox=normalised_box(stay.box, width, height),
        )

    @staticmethod
    def _snapshot(label: str, analysed: AnalysedFrame, box: np.ndarray) -> Snapshot:
        frame = analysed.frame
        return Snapshot(label=label, frame=frame, boxes=(normalised_box(box, frame.width, frame.height),))
