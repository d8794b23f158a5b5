"""What every rule shares: the frame it is shown, and the findings it returns.

A rule decides; it does not draw or send. It returns ``Finding`` objects; the
pipeline turns them into evidence (``edge/evidence/recorder.py``) and events (``edge/delivery/outbox.py``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

import numpy as np

from contract.event import EventType, Phase
from edge.analysis.detections import Detections
from edge.capture.frames import Frame


@dataclass(frozen=True)
class AnalysedFrame:
    """A frame with the camera's tracked detections, and every detection the model made.

    Rules that follow objects use ``detections`` (tracked ones only); rules that must ignore
    whatever moves through the frame use ``raw``, because a tracker holds back objects it has
    not yet confirmed, and at one frame an hour it never confirms a passer-by.
    """

    frame: Frame
    detections: Detections
    raw: Detections | None = None

    @property
    def everything(self) -> Detections:
        return self.raw if self.raw is not None else self.detections


@dataclass(frozen=True)
class Snapshot:
    """A moment to keep as a JPEG: the frame, and the boxes (normalised xyxy) to outline on it."""

    label: str
    frame: Frame
    boxes: tuple[tuple[float, float, float, float], ...] = ()


@dataclass(frozen=True)
class Finding:
    """One phase of one episode. ``episode`` is stable across the episode's start, updates
    and end, so the central service can pair them."""

    phase: Phase
    type: EventType
    zone_id: str
    episode: str
    started_at: float
    observed_at: float
    confidence: float
    ended_at: float | None = None
    details: dict[str, Any] = field(default_factory=dict)
    snapshots: tuple[Snapshot, ...] = ()
    clip_at: float | None = None
    """Write a clip around this moment (pre- and post-roll from the evidence settings)."""


class Rule(Protocol):
    """Every rule module has a config model and one class of this shape."""

    type: ClassVar[EventType]
    zone_id: str

    def update(self, analysed: AnalysedFrame) -> list[Finding]:
        """Look at one analysed frame; return what started, changed or ended."""

    def close(self, ts: float) -> list[Finding]:
        """The input ended at ``ts``: end every open episode."""


def normalised_box(xyxy: np.ndarray, width: int, height: int) -> tuple[float, float, float, float]:
    x1, y1, x2, y2 = (float(v) for v in xyxy)
    return (round(x1 / width, 4), round(y1 / height, 4), round(x2 / width, 4), round(y2 / height, 4))
