"""bright_dust: a toy rule, the docs' example of adding one (``test_adding_a_rule.py`` registers it).

The zone's mean brightness at or above ``threshold`` for ``frames`` analysed frames in a row starts
a dust episode (a crude stand-in for dust's whitening); the first darker frame ends it.
"""

from __future__ import annotations

import uuid
from typing import ClassVar

import cv2
from pydantic import Field

from contract.event import DustDetails, EventType, Phase
from edge.analysis.zones import Zone
from edge.rules.base import AnalysedFrame, Finding, RuleConfig, Snapshot, Verdict
from edge.rules.context import RuleContext


class BrightDustConfig(RuleConfig):
    threshold: float = Field(default=200.0, ge=0, le=255, description="Mean luma (0..255) that counts.")
    frames: int = Field(default=3, ge=1, description="Analysed frames in a row it must last.")


class BrightDust:
    type: ClassVar[EventType] = EventType.dust

    def __init__(self, zone: Zone, config: BrightDustConfig, context: RuleContext) -> None:
        self.zone_id = zone.id
        self._zone = zone
        self._config = config
        self._streak = 0
        self._started: tuple[str, float] | None = None
        """The open episode's id and start."""

    def update(self, analysed: AnalysedFrame) -> Verdict:
        frame = analysed.frame
        luma = cv2.cvtColor(frame.image, cv2.COLOR_BGR2GRAY)[self._zone.mask(frame.width, frame.height) > 0]
        self._streak = self._streak + 1 if float(luma.mean()) >= self._config.threshold else 0
        if self._started is None and self._streak >= self._config.frames:
            self._started = (str(uuid.uuid4()), frame.ts)
            return Verdict([self._finding(Phase.start, frame.ts, (Snapshot("bright", frame),))])
        if self._started is not None and self._streak == 0:
            return Verdict(self.close(frame.ts))
        return Verdict()

    def close(self, ts: float) -> list[Finding]:
        if self._started is None:
            return []
        finding = self._finding(Phase.end, ts)
        self._started = None
        return [finding]

    def _finding(self, phase: Phase, ts: float, snapshots: tuple[Snapshot, ...] = ()) -> Finding:
        episode, started_at = self._started or ("", ts)
        return Finding(
            phase=phase,
            type=self.type,
            zone_id=self.zone_id,
            episode=episode,
            started_at=started_at,
            observed_at=ts,
            ended_at=ts if phase is Phase.end else None,
            confidence=1.0,
            details=DustDetails(threshold=self._config.threshold, duration_s=round(ts - started_at, 1)),
            snapshots=snapshots,
        )
