"""What flows from the reader into analysis: a decoded frame and its timestamp."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Frame:
    """A decoded BGR frame. ``ts`` is seconds since the epoch: wall clock for live
    cameras, the recording's own time (start + pts) for recordings, so that every
    rule's clock follows the media, not the machine."""

    image: np.ndarray
    ts: float
    keyframe: bool = False

    @property
    def width(self) -> int:
        return int(self.image.shape[1])

    @property
    def height(self) -> int:
        return int(self.image.shape[0])
