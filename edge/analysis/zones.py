"""A zone's polygon in normalised coordinates, so it survives a change of camera resolution."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

import cv2
import numpy as np
from pydantic import AfterValidator

Point = tuple[float, float]


def _polygon_shape(polygon: list[Point]) -> list[Point]:
    if len(polygon) < 3:
        raise ValueError("a polygon needs at least 3 points")
    for i, (x, y) in enumerate(polygon):
        if not (0.0 <= x <= 1.0 and 0.0 <= y <= 1.0):
            raise ValueError(f"point {i} [{x}, {y}] is outside 0..1 (coordinates are fractions of the frame)")
    return polygon


Polygon = Annotated[list[Point], AfterValidator(_polygon_shape)]
"""A polygon as configured: at least 3 points [x, y], each in 0..1 of the frame."""


@dataclass(frozen=True)
class Zone:
    id: str
    polygon: np.ndarray
    """(n, 2) float32, x and y in 0..1 of the frame."""

    @classmethod
    def from_points(cls, zone_id: str, points: list[Point]) -> Zone:
        return cls(zone_id, np.asarray(points, dtype=np.float32))

    def pixels(self, width: int, height: int) -> np.ndarray:
        """The polygon in pixels of a frame of this size, as OpenCV's drawing functions want it."""
        return np.round(self.polygon * np.array([width, height], np.float32)).astype(np.int32)

    def contains(self, points: np.ndarray, width: int, height: int) -> np.ndarray:
        """Which pixel points (n, 2) lie inside or on the edge of the zone."""
        contour = self.pixels(width, height).reshape(-1, 1, 2)
        return np.array(
            [cv2.pointPolygonTest(contour, (float(x), float(y)), False) >= 0 for x, y in points], dtype=bool
        )

    def mask(self, width: int, height: int) -> np.ndarray:
        """A uint8 mask (255 inside) for rules that measure pixels within the zone."""
        canvas = np.zeros((height, width), np.uint8)
        cv2.fillPoly(canvas, [self.pixels(width, height)], 255)
        return canvas
