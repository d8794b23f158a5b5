"""dust: a zone that turns hazy, warm and soft against the camera's own clean look, while the rest of
the view does not.

Every analysed frame gets a score in 0..1 for the zone and for a reference area (by default
the rest of the frame), each against its own rolling baseline of clean frames (``edge/analysis/haze.py``
has the formula). Dust is the zone scoring at least ``threshold`` while the reference area scores
less than ``weather_ratio`` of the zone: fog, rain haze and a change of light reach the whole
view, a plume from a site does not. Too little light suspends the rule, because in the dark
every measure is sensor noise.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import structlog
from pydantic import Field

from contract.event import DustDetails, EventType, Phase
from edge.analysis.haze import HazeMaps, HazeMeasures, HazeScore, score
from edge.analysis.zones import Polygon, Zone
from edge.capture.frames import Frame
from edge.rules.base import AnalysedFrame, Finding, RuleConfig, Snapshot, Verdict
from edge.rules.context import RuleContext

log = structlog.get_logger(__name__)

CLEAN_FRACTION = 0.5
"""A frame teaches the baseline only while both scores stay below this fraction of the threshold."""


class DustConfig(RuleConfig):
    threshold: float = Field(
        default=0.4, gt=0, lt=1, description="Zone dust score (0..1) that counts as dusty."
    )
    min_duration_s: float = Field(
        default=30.0, ge=0, description="Seconds the score must stay up before an event starts."
    )
    grace_s: float = Field(
        default=30.0, ge=0, description="Seconds below the threshold before the event ends."
    )
    smoothing_s: float = Field(
        default=10.0,
        ge=0,
        description="Time constant of the scores' running average: a plume flickers, its trend decides.",
    )
    baseline_s: float = Field(
        default=900.0,
        gt=0,
        description="Time constant of the rolling clean baseline (slow light changes follow it).",
    )
    warmup_s: float = Field(
        default=10.0,
        ge=0,
        description="Seconds of clean frames that form the first baseline before any scoring.",
    )
    weather_ratio: float = Field(
        default=0.5,
        gt=0,
        le=1,
        description="No event while the reference area scores this fraction of the zone or more: weather.",
    )
    reference_polygon: Polygon | None = Field(
        default=None,
        description="Area that tells weather from dust, [x, y] in 0..1 of the frame; null: the rest of it.",
    )
    min_luminance: float = Field(
        default=40.0,
        ge=0,
        le=255,
        description="Mean luma (0..255) of the view below which the rule is suspended.",
    )

    @property
    def time_scale_s(self) -> float:
        return self.min_duration_s


@dataclass(frozen=True)
class _Reading:
    zone: HazeScore
    reference: HazeScore


@dataclass
class _Episode:
    id: str
    started_at: float
    last_dusty: float
    peak: float


class Dust:
    type: ClassVar[EventType] = EventType.dust

    def __init__(self, zone: Zone, config: DustConfig, context: RuleContext) -> None:
        self.zone_id = zone.id
        self._zone = zone
        self._reference_zone = (
            Zone.from_points("reference", config.reference_polygon) if config.reference_polygon else None
        )
        self._config = config
        self._log = log.bind(camera=context.camera_id, zone=zone.id, rule=self.type.value)
        self._masks: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = {}
        self._baseline: tuple[HazeMeasures, HazeMeasures] | None = None
        self._baseline_since = 0.0
        self._last_ts: float | None = None
        self._smoothed: tuple[float, _Reading] | None = None
        self._onset: Frame | None = None
        self._episode: _Episode | None = None
        self._condition = "warming up"

    def update(self, analysed: AnalysedFrame) -> Verdict:
        frame = analysed.frame
        maps = HazeMaps.of(frame.image)
        if float(maps.luma.mean()) < self._config.min_luminance:
            self._note("suspended: low light", luminance=round(float(maps.luma.mean()), 1))
            self._last_ts, self._smoothed = None, None  # neither average reaches across the dark
            return Verdict(self._advance(frame, None))
        zone_mask, reference_mask = self._masks_for(maps.size)
        measures = (maps.measure(zone_mask), maps.measure(reference_mask))
        reading = self._read(measures, frame.ts)
        self._learn(measures, reading, frame.ts)
        return Verdict(self._advance(frame, reading))

    def close(self, ts: float) -> list[Finding]:
        if self._episode is None:
            return []
        return [self._end(self._episode, None, reason="input ended")]

    def _masks_for(self, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
        """Zone and reference masks at the working size (cached: the size only changes with the stream)."""
        if size not in self._masks:
            zone = self._zone.mask(*size) > 0
            reference = self._reference_zone.mask(*size) > 0 if self._reference_zone else ~zone
            if not zone.any() or not reference.any():
                raise ValueError(
                    f"dust zone '{self.zone_id}': the zone or its reference area covers no pixels"
                )
            self._masks[size] = (zone, reference)
        return self._masks[size]

    def _read(self, measures: tuple[HazeMeasures, HazeMeasures], ts: float) -> _Reading | None:
        """Both scores against the baseline, as running averages over ``smoothing_s``; None until the
        baseline has seen ``warmup_s`` of clean frames."""
        if self._baseline is None or ts - self._baseline_since < self._config.warmup_s:
            return None
        zone_base, reference_base = self._baseline
        reading = _Reading(zone=score(measures[0], zone_base), reference=score(measures[1], reference_base))
        if self._smoothed is not None:
            last_ts, last = self._smoothed
            weight = _ema_weight(ts - last_ts, self._config.smoothing_s)
            reading = _Reading(
                last.zone.blend(reading.zone, weight), last.reference.blend(reading.reference, weight)
            )
        self._smoothed = (ts, reading)
        return reading

    def _learn(
        self, measures: tuple[HazeMeasures, HazeMeasures], reading: _Reading | None, ts: float
    ) -> None:
        """Fold a clean frame into the rolling baseline (an exponential average over media time)."""
        if self._baseline is None:
            self._baseline, self._baseline_since, self._last_ts = measures, ts, ts
            self._log.info("dust baseline started", luminance=round(measures[0].luminance, 1))
            return
        clean_below = CLEAN_FRACTION * self._config.threshold
        clean = reading is None or max(reading.zone.score, reading.reference.score) < clean_below
        if self._last_ts is None:
            self._last_ts = ts
        if clean:
            weight = _ema_weight(ts - self._last_ts, self._config.baseline_s)
            self._baseline = (
                self._baseline[0].blend(measures[0], weight),
                self._baseline[1].blend(measures[1], weight),
            )
        self._last_ts = ts

    def _advance(self, frame: Frame, reading: _Reading | None) -> list[Finding]:
        dusty = reading is not None and self._is_dust(reading)
        if reading is not None and not dusty:
            self._note(
                "clear"
                if reading.zone.score < self._config.threshold
                else "whole view hazy: weather or light",
                zone_score=round(reading.zone.score, 3),
                reference_score=round(reading.reference.score, 3),
            )
        if dusty and reading is not None:
            self._note(
                "dusty",
                zone_score=round(reading.zone.score, 3),
                reference_score=round(reading.reference.score, 3),
            )
            return self._dusty(frame, reading)
        self._onset = None
        episode = self._episode
        if episode is not None and frame.ts - episode.last_dusty >= self._config.grace_s:
            return [self._end(episode, frame, reason="low light" if reading is None else "cleared")]
        return []

    def _is_dust(self, reading: _Reading) -> bool:
        zone = reading.zone.score
        return zone >= self._config.threshold and reading.reference.score < self._config.weather_ratio * zone

    def _dusty(self, frame: Frame, reading: _Reading) -> list[Finding]:
        episode = self._episode
        if episode is not None:
            episode.last_dusty, episode.peak = frame.ts, max(episode.peak, reading.zone.score)
            return []
        if self._onset is None:
            self._onset = frame
        if frame.ts - self._onset.ts < self._config.min_duration_s:
            return []
        self._episode = _Episode(str(uuid.uuid4()), self._onset.ts, frame.ts, reading.zone.score)
        self._log.info("dust started", episode=self._episode.id, score=round(reading.zone.score, 3))
        return [
            Finding(
                phase=Phase.start,
                type=self.type,
                zone_id=self.zone_id,
                episode=self._episode.id,
                started_at=self._onset.ts,
                observed_at=frame.ts,
                confidence=round(min(reading.zone.score, 1.0), 3),
                details=self._details(reading, frame.ts - self._onset.ts),
                snapshots=(Snapshot("onset", self._onset), Snapshot("dust", frame)),
                clip_at=frame.ts,
            )
        ]

    def _end(self, episode: _Episode, frame: Frame | None, reason: str) -> Finding:
        self._episode = None
        self._log.info("dust ended", episode=episode.id, reason=reason, peak=round(episode.peak, 3))
        return Finding(
            phase=Phase.end,
            type=self.type,
            zone_id=self.zone_id,
            episode=episode.id,
            started_at=episode.started_at,
            observed_at=episode.last_dusty,
            ended_at=episode.last_dusty,
            confidence=round(min(episode.peak, 1.0), 3),
            details=DustDetails(
                peak_score=round(episode.peak, 3),
                duration_s=round(episode.last_dusty - episode.started_at, 1),
                reason=reason,
                threshold=self._config.threshold,
            ),
            snapshots=(Snapshot("cleared", frame),) if frame is not None else (),
        )

    def _details(self, reading: _Reading, duration_s: float) -> DustDetails:
        return DustDetails(
            dust_score=round(reading.zone.score, 3),
            parts=reading.zone.parts(),
            reference_score=round(reading.reference.score, 3),
            threshold=self._config.threshold,
            duration_s=round(duration_s, 1),
        )

    def _note(self, condition: str, **fields: float) -> None:
        """Log the rule's condition when it changes, not on every frame."""
        if condition != self._condition:
            self._condition = condition
            self._log.info("dust condition", condition=condition, **fields)


def _ema_weight(dt: float, time_constant: float) -> float:
    """The weight of a new sample after ``dt`` seconds in an exponential average over media time."""
    return 1.0 if time_constant <= 0 else 1.0 - float(np.exp(-max(dt, 0.0) / time_constant))
