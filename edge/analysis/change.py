"""Whether anything changed in a camera's zones since the detector last looked, for a sliver of its cost.

The frame is shrunk to a small grey image (``WIDTH`` pixels wide, blurred against compression noise),
and each zone's bounding box in it is compared with the same box of the last frame the detector saw.
Both boxes are first brought to zero mean and unit spread, so light that drifts (dusk, a cloud, the
camera's gain) changes nothing, while a vehicle that arrives or leaves moves a block of pixels that
no normalisation hides. The share of pixels that moved more than ``PIXEL_SPREADS`` spreads is the
zone's change; above ``min_changed`` in any zone, the detector runs. It runs at least every
``max_skip_s`` anyway, so a change too slow to show between two frames is still seen.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import cv2
import numpy as np

from edge.analysis.detections import Detections
from edge.capture.frames import Frame
from edge.config import CameraConfig, ChangeConfig

WIDTH = 256
"""Width of the compared image: a car 60 pixels wide at 1080p is still 8 pixels across."""
PIXEL_SPREADS = 1.0
"""A pixel has changed when it moved more than this many of its box's spreads (standard deviations)."""
MIN_SPREAD = 8.0
"""Grey levels: a box flatter than this (bare tarmac at night) is not stretched into its own noise."""

_SLACK_S = 1e-6  # float rounding in media times must not put off a re-check that is exactly due

Box = tuple[float, float, float, float]


def bounding_box(polygon: Sequence[tuple[float, float]]) -> Box:
    xs, ys = [x for x, _ in polygon], [y for _, y in polygon]
    return min(xs), min(ys), max(xs), max(ys)


def small_grey(image: np.ndarray) -> np.ndarray:
    """The frame at ``WIDTH`` pixels wide, grey, lightly blurred, as float32."""
    height = max(1, round(image.shape[0] * WIDTH / image.shape[1]))
    small = cv2.resize(image, (WIDTH, height), interpolation=cv2.INTER_AREA)
    grey = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY) if small.ndim == 3 else small
    return np.asarray(cv2.GaussianBlur(grey, (3, 3), 0), dtype=np.float32)


def changed_share(before: np.ndarray, after: np.ndarray) -> float:
    """The share of pixels of one box that changed, blind to a change of brightness or contrast."""
    a = (before - before.mean()) / max(float(before.std()), MIN_SPREAD)
    b = (after - after.mean()) / max(float(after.std()), MIN_SPREAD)
    return float(np.mean(np.abs(a - b) > PIXEL_SPREADS))


class ChangeGate:
    """Per camera: should the detector look at this frame, or may the last detections stand?"""

    def __init__(self, boxes: Sequence[Box], settings: ChangeConfig) -> None:
        self._boxes = list(boxes)
        self._settings = settings
        self._reference: np.ndarray | None = None
        self._reference_ts = 0.0
        self._last: Detections | None = None
        self.skipped = 0

    @classmethod
    def for_camera(cls, camera: CameraConfig) -> ChangeGate:
        return cls([bounding_box(zone.polygon) for zone in camera.zones], camera.change)

    def detect(self, frame: Frame, detector: Callable[[np.ndarray], Detections]) -> Detections:
        """The detector's detections of ``frame``; where nothing changed, the last ones it made, so the
        tracker and the rules' clocks carry on without it."""
        if self.needs_detector(frame) or self._last is None:
            self._last = detector(frame.image)
        return self._last

    def needs_detector(self, frame: Frame) -> bool:
        """True for the first frame, one a zone changed in, and one ``max_skip_s`` after the last the
        detector saw; that frame becomes the one the next are compared with."""
        if not self._settings.enabled:
            return True
        grey = small_grey(frame.image)
        reference = self._reference
        if (
            reference is None
            or reference.shape != grey.shape
            or frame.ts - self._reference_ts + _SLACK_S >= self._settings.max_skip_s
            or zone_change(reference, grey, self._boxes) > self._settings.min_changed
        ):
            self._reference, self._reference_ts = grey, frame.ts
            return True
        self.skipped += 1
        return False


def zone_change(before: np.ndarray, after: np.ndarray, boxes: Sequence[Box]) -> float:
    """The largest change of any box (0..1 of the frame) between two small grey images of one size."""
    height, width = before.shape
    shares = []
    for x1, y1, x2, y2 in boxes:
        rows = slice(int(y1 * height), max(int(y1 * height) + 1, round(y2 * height)))
        cols = slice(int(x1 * width), max(int(x1 * width) + 1, round(x2 * width)))
        shares.append(changed_share(before[rows, cols], after[rows, cols]))
    return max(shares, default=0.0)
