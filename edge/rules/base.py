"""What every rule shares: the frame it is shown, what it returns, and the one shape every rule has.

A rule decides; it does not draw, send or write. It returns a ``Verdict``: ``Finding`` objects,
which the pipeline turns into evidence (``edge/evidence/recorder.py``) and events
(``edge/delivery/outbox.py``), and any state it must keep across restarts, which the pipeline
writes (``RuleState.write``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar, Protocol

import numpy as np

from contract.event import EventDetails, EventType, Phase
from contract.validation import StrictModel
from edge.analysis.detections import Detections
from edge.capture.frames import Frame


class RuleConfig(StrictModel):
    """The base of every rule's config model. ``time_scale_s`` is how soon the rule must see a change:
    the reader decodes frames between keyframes often enough for the shortest of a camera's rules."""

    @property
    def time_scale_s(self) -> float:
        """The shortest time the rule measures; 0 (the default) asks for every frame analysis gives."""
        return 0.0


@dataclass(frozen=True)
class AnalysedFrame:
    """A frame and every detection the model made in it.

    A detection the camera's tracker follows has ``tracker_id >= 0`` (and the tracker's box);
    ``detections.tracked()`` gives those, for rules that follow objects over time. Rules that must
    ignore whatever moves through the frame use all of them, because a tracker holds back objects it
    has not yet confirmed, and at one frame an hour it never confirms a passer-by.
    """

    frame: Frame
    detections: Detections


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
    details: EventDetails | None = None
    """The type's own details model, so a misspelt key is a type error; the pipeline adds the common ones."""
    snapshots: tuple[Snapshot, ...] = ()
    clip_at: float | None = None
    """Write a clip around this moment (pre- and post-roll from the evidence settings)."""


class RuleState(Protocol):
    """What a rule must remember across restarts (the building rule's approved reference). The rule
    only returns it; the pipeline writes it into the rule's folder for its zone (``RuleContext.zone_dir``),
    where the rule reads it back when it is built."""

    def write(self, folder: Path) -> None:
        """Write into ``folder`` (made if missing) so that a crash never leaves half of it."""


@dataclass(frozen=True)
class Verdict:
    """What one look at a frame decided: episodes that started, changed or ended, and state to keep."""

    findings: list[Finding] = field(default_factory=list)
    persist: RuleState | None = None


class Rule(Protocol):
    """The one shape of every rule. A rule module holds a config model and one class of this shape,
    built as ``TheRule(zone, config, context)``; its row in ``edge/rules/registry.py`` gives its key (the
    name under a zone's ``rules``) and mypy checks the constructor there."""

    type: ClassVar[EventType]
    """The event type its findings report."""
    zone_id: str

    def update(self, analysed: AnalysedFrame) -> Verdict:
        """Look at one analysed frame; return what started, changed or ended, and state to keep."""

    def close(self, ts: float) -> list[Finding]:
        """The input ended at ``ts``: end every open episode."""


def normalised_box(xyxy: np.ndarray, width: int, height: int) -> tuple[float, float, float, float]:
    x1, y1, x2, y2 = (float(v) for v in xyxy)
    return (round(x1 / width, 4), round(y1 / height, 4), round(x2 / width, 4), round(y2 / height, 4))
