"""illegal_building: a structure that appears in a zone and stays, against an approved reference.

Buildings go up over days, and light changes by the hour, so the rule does not look at every
frame: it checks once per ``check_every_s`` of media time (default daily), at ``check_time``
local time, with the first usable frame (bright enough, not mostly hidden by people or
vehicles) in the check's window. The first check takes the reference; every later check
compares the zone with it (``edge/analysis/structure.py``) with people and vehicles masked out.
A change over ``min_changed_ratio`` of the zone, at the same place in ``persist_checks``
consecutive checks, starts an event with the reference and the current image, the changed
region outlined. It ends when the change is gone for ``persist_checks`` checks, or when an
operator approves the current view as the new reference (``approve_reference``).

The rule reads its reference from its folder when built; a new one it returns for the pipeline to
write (``Verdict.persist``), so deciding never waits on the disk.
"""

from __future__ import annotations

import uuid
from collections import deque
from dataclasses import dataclass
from typing import ClassVar

import cv2
import numpy as np
import structlog
from pydantic import Field, model_validator

from contract.event import EventType, IllegalBuildingDetails, Phase
from edge.analysis.reference import Reference
from edge.analysis.structure import Change, Crop, compare, persistent_change
from edge.analysis.zones import Zone
from edge.capture.frames import Frame
from edge.rules.base import AnalysedFrame, Finding, RuleConfig, Snapshot, Verdict
from edge.rules.context import RuleContext

log = structlog.get_logger(__name__)

DAY_S = 86400.0
MOVING_CLASSES = ("person", "bicycle", "car", "motorcycle", "bus", "truck")


class IllegalBuildingConfig(RuleConfig):
    min_changed_ratio: float = Field(
        default=0.05,
        gt=0,
        lt=1,
        description="Fraction of the zone that must have changed for a check to count.",
    )
    persist_checks: int = Field(
        default=3,
        ge=1,
        description="Consecutive checks the change must persist (at one place) to start an event.",
    )
    check_time: str = Field(
        default="10:00",
        pattern=r"^([01]\d|2[0-3]):[0-5]\d$",
        description="Local time of day (HH:MM) of the reference and of the checks, so they share the light.",
    )
    utc_offset_h: float = Field(
        default=0.0, ge=-12, le=14, description="Local time's offset from UTC, hours (8 = China)."
    )
    check_every_s: float = Field(default=DAY_S, gt=0, description="Seconds of media time between checks.")
    check_window_s: float = Field(
        default=3600.0,
        gt=0,
        description="A check uses the first usable frame this long after it is due, or is skipped.",
    )
    min_luminance: float = Field(
        default=40.0,
        ge=0,
        le=255,
        description="Mean luma (0..255) of the zone below which a frame is not used.",
    )
    max_hidden_ratio: float = Field(
        default=0.5,
        gt=0,
        le=1,
        description="A frame whose zone is hidden more than this by masked objects is not used.",
    )
    mask_classes: list[str] = Field(
        default_factory=lambda: list(MOVING_CLASSES),
        description="Detector classes masked out of the comparison: things that come and go.",
    )
    mask_margin: float = Field(
        default=0.15, ge=0, le=1, description="Masked boxes are widened by this fraction of their size."
    )

    @model_validator(mode="after")
    def _window_within_period(self) -> IllegalBuildingConfig:
        if self.check_window_s > self.check_every_s:
            raise ValueError(
                f"check_window_s ({self.check_window_s}) must not exceed check_every_s ({self.check_every_s})"
            )
        return self

    @property
    def check_offset_s(self) -> float:
        """``check_time`` as seconds after local midnight."""
        hours, minutes = self.check_time.split(":")
        return int(hours) * 3600.0 + int(minutes) * 60.0

    @property
    def time_scale_s(self) -> float:
        return self.check_window_s


@dataclass(frozen=True)
class _Check:
    ts: float
    change: Change


@dataclass
class _Episode:
    id: str
    started_at: float
    boxes: tuple[tuple[float, float, float, float], ...]
    ratio: float
    clear_checks: int = 0
    ending: str | None = None


class IllegalBuilding:
    type: ClassVar[EventType] = EventType.illegal_building

    def __init__(self, zone: Zone, config: IllegalBuildingConfig, context: RuleContext) -> None:
        self.zone_id = zone.id
        self._zone = zone
        self._config = config
        self._log = log.bind(camera=context.camera_id, zone=zone.id, rule=self.type.value)
        self._reference = Reference.read(context.folder, self._log)
        self._changes: deque[_Check] = deque(maxlen=config.persist_checks)
        self._episode: _Episode | None = None
        self._anchor: float | None = None
        self._done_slot = -1

    def update(self, analysed: AnalysedFrame) -> Verdict:
        frame = analysed.frame
        findings = self._pending_end(frame)
        slot = self._due_slot(frame.ts)
        if slot is None:
            return Verdict(findings)
        zone_mask = self._zone.mask(frame.width, frame.height) > 0
        hidden = self._hidden(analysed) & zone_mask
        if not self._usable(frame, zone_mask, hidden):
            return Verdict(findings)
        self._done_slot = slot
        if self._reference is None:
            return Verdict(findings, persist=self._approve(frame, "first check"))
        return Verdict(findings + self._check(frame, self._reference, zone_mask, hidden))

    def close(self, ts: float) -> list[Finding]:
        episode, self._episode = self._episode, None
        if episode is None:
            return []
        return [self._end(episode, ts, episode.ending or "input ended")]

    def approve_reference(self, frame: Frame, approved_by: str = "operator") -> Reference:
        """Make ``frame`` the zone's reference (an operator judged the change legitimate); an open
        episode ends with the next analysed frame. Returns the reference to persist. From another thread
        (the RPC handler), call it through the pipeline (``CameraPipeline.apply``), which serialises it
        with ``update`` and writes what it returns."""
        if self._episode is not None:
            self._episode.ending = "reference re-approved"
        return self._approve(frame, approved_by)

    def _approve(self, frame: Frame, approved_by: str) -> Reference:
        self._reference = Reference(frame, approved_by)
        self._changes.clear()
        self._log.info(
            "building reference approved",
            since=self._reference.since,
            approved_by=approved_by,
        )
        return self._reference

    def _due_slot(self, ts: float) -> int | None:
        """The check slot ``ts`` falls in, if that check is still to do and its window is open."""
        config = self._config
        if self._anchor is None:
            local_midnight = (
                ts + config.utc_offset_h * 3600.0
            ) // DAY_S * DAY_S - config.utc_offset_h * 3600.0
            self._anchor = local_midnight + config.check_offset_s
        if ts < self._anchor:
            return None
        slot = int((ts - self._anchor) // config.check_every_s)
        in_window = ts - (self._anchor + slot * config.check_every_s) < config.check_window_s
        return slot if slot > self._done_slot and in_window else None

    def _hidden(self, analysed: AnalysedFrame) -> np.ndarray:
        """Pixels under people and vehicles (widened boxes): they come and go, buildings do not."""
        frame = analysed.frame
        hidden = np.zeros((frame.height, frame.width), bool)
        movers = analysed.detections.with_classes(set(self._config.mask_classes))
        margin = self._config.mask_margin
        for x1, y1, x2, y2 in movers.xyxy:
            dx, dy = (x2 - x1) * margin, (y2 - y1) * margin
            hidden[
                max(0, int(y1 - dy)) : int(np.ceil(y2 + dy)), max(0, int(x1 - dx)) : int(np.ceil(x2 + dx))
            ] = True
        return hidden

    def _usable(self, frame: Frame, zone_mask: np.ndarray, hidden: np.ndarray) -> bool:
        gray = cv2.cvtColor(frame.image, cv2.COLOR_BGR2GRAY)
        luminance = float(gray[zone_mask].mean())
        hidden_ratio = float(hidden.sum()) / max(int(zone_mask.sum()), 1)
        usable = luminance >= self._config.min_luminance and hidden_ratio <= self._config.max_hidden_ratio
        if not usable:
            self._log.info(
                "building check waits for a usable frame",
                luminance=round(luminance, 1),
                hidden_ratio=round(hidden_ratio, 3),
            )
        return usable

    def _check(
        self, frame: Frame, reference: Reference, zone_mask: np.ndarray, hidden: np.ndarray
    ) -> list[Finding]:
        before = reference.frame.image
        if before.shape != frame.image.shape:  # the camera's resolution changed; zones are normalised
            before = cv2.resize(before, (frame.width, frame.height), interpolation=cv2.INTER_AREA)
        change = compare(before, frame.image, zone_mask, hidden)
        changed = change.ratio > self._config.min_changed_ratio
        self._log.info(
            "building check",
            changed_ratio=round(change.ratio, 4),
            changed=changed,
            streak=len(self._changes) + 1 if changed else 0,
        )
        if not changed:
            self._changes.clear()
            return self._maybe_cleared(frame)
        self._changes.append(_Check(frame.ts, change))
        if self._episode is not None:
            self._episode.clear_checks = 0
            return []
        if len(self._changes) < self._config.persist_checks:
            return []
        persistent, ratio = persistent_change([check.change for check in self._changes])
        if ratio <= self._config.min_changed_ratio:
            return []
        boxes = Crop.of(zone_mask).boxes(persistent, frame.width, frame.height)
        return [self._start(frame, reference, boxes, ratio)]

    def _start(
        self,
        frame: Frame,
        reference: Reference,
        boxes: tuple[tuple[float, float, float, float], ...],
        ratio: float,
    ) -> Finding:
        self._episode = _Episode(str(uuid.uuid4()), self._changes[0].ts, boxes, ratio)
        self._log.info(
            "building change started",
            episode=self._episode.id,
            persistent_ratio=round(ratio, 4),
            reference_since=reference.since,
        )
        return Finding(
            phase=Phase.start,
            type=self.type,
            zone_id=self.zone_id,
            episode=self._episode.id,
            started_at=self._episode.started_at,
            observed_at=frame.ts,
            confidence=self._confidence(ratio),
            details=self._details(self._episode),
            snapshots=(Snapshot("reference", reference.frame, boxes), Snapshot("current", frame, boxes)),
        )

    def _confidence(self, ratio: float) -> float:
        """0.5 at the threshold, 1.0 at twice the threshold and above."""
        return round(min(1.0, ratio / (2 * self._config.min_changed_ratio)), 3)

    def _maybe_cleared(self, frame: Frame) -> list[Finding]:
        episode = self._episode
        if episode is None:
            return []
        episode.clear_checks += 1
        if episode.clear_checks < self._config.persist_checks:
            return []
        self._episode = None
        return [self._end(episode, frame.ts, "change gone", Snapshot("cleared", frame))]

    def _pending_end(self, frame: Frame) -> list[Finding]:
        episode = self._episode
        if episode is None or episode.ending is None:
            return []
        self._episode = None
        return [self._end(episode, frame.ts, episode.ending)]

    def _end(self, episode: _Episode, ts: float, reason: str, snapshot: Snapshot | None = None) -> Finding:
        self._log.info("building change ended", episode=episode.id, reason=reason)
        return Finding(
            phase=Phase.end,
            type=self.type,
            zone_id=self.zone_id,
            episode=episode.id,
            started_at=episode.started_at,
            observed_at=ts,
            ended_at=ts,
            confidence=self._confidence(episode.ratio),
            details=self._details(episode, reason),
            snapshots=(snapshot,) if snapshot else (),
        )

    def _details(self, episode: _Episode, reason: str | None = None) -> IllegalBuildingDetails:
        """The episode's figures; an end also says why it ended (a start or update names no reason)."""
        reference = self._reference
        details = IllegalBuildingDetails(
            changed_ratio=round(episode.ratio, 4),
            min_changed_ratio=self._config.min_changed_ratio,
            persist_checks=self._config.persist_checks,
            bbox=episode.boxes[0] if episode.boxes else None,
            regions=list(episode.boxes),
            reference_since=reference.since if reference else None,
            reference_approved_by=reference.approved_by if reference else None,
        )
        return details if reason is None else details.model_copy(update={"reason": reason})
