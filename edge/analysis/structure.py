"""Where a zone's structure differs from its approved reference, with the light taken out: the
measure behind the illegal_building rule.

The zone is cropped from both images and scaled to ``WORK_SIDE``. Light is normalised in Lab
over the pixels both can see: lightness through a few matched percentiles, colour by the median
shift (so a dull day, a low sun or a camera's white balance are gone, a new roof is not).
A pixel has changed when either

* its neighbourhood's structure differs: the contrast-structure part of SSIM (Wang et al.
  2004; the luminance part is left out, so a shadow does not count) falls below
  ``STRUCTURE_BELOW`` where either image has texture; or
* its colour differs: the a/b (chroma) distance after matching exceeds ``CHROMA_ABOVE``
  (a blue steel roof on grey ground has no texture to compare, but a colour).

Pixels under people and vehicles (the detector's boxes, widened) are not judged. Specks
smaller than ``MIN_BLOB`` of the zone are dropped as noise.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

WORK_SIDE = 320
STRUCTURE_BELOW = 0.3
TEXTURE_FLOOR = 4.0
"""Grey-level standard deviation below which a neighbourhood has no structure to compare."""
CHROMA_ABOVE = 14.0
MIN_BLOB = 0.003
WINDOW_SIGMA = 3.0
MAX_REGIONS = 4
LIGHT_KNOTS = (2, 25, 50, 75, 98)
"""Lightness percentiles matched between the images (a change under ~25 % of the zone moves them little)."""
_C2 = (0.02 * 255) ** 2


@dataclass(frozen=True)
class Crop:
    """The zone's bounding rectangle in frame pixels, and the scale of the working images."""

    x1: int
    y1: int
    x2: int
    y2: int
    scale: float

    @classmethod
    def of(cls, zone_mask: np.ndarray) -> Crop:
        ys, xs = np.nonzero(zone_mask)
        x1, y1, x2, y2 = int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1
        return cls(x1, y1, x2, y2, min(1.0, WORK_SIDE / max(x2 - x1, y2 - y1)))

    def take(self, image: np.ndarray, interpolation: int = cv2.INTER_AREA) -> np.ndarray:
        part = image[self.y1 : self.y2, self.x1 : self.x2]
        size = (
            max(1, round((self.x2 - self.x1) * self.scale)),
            max(1, round((self.y2 - self.y1) * self.scale)),
        )
        return cv2.resize(part, size, interpolation=interpolation)

    def boxes(
        self, changed: np.ndarray, width: int, height: int
    ) -> tuple[tuple[float, float, float, float], ...]:
        """Bounding boxes (normalised xyxy in the frame) of the largest changed regions, largest first."""
        count, _, stats, _ = cv2.connectedComponentsWithStats(changed.astype(np.uint8), connectivity=8)
        order = sorted(range(1, count), key=lambda i: -stats[i, cv2.CC_STAT_AREA])[:MAX_REGIONS]
        boxes = []
        for i in order:
            x, y, w, h = (int(v) for v in stats[i, :4])
            boxes.append(
                (
                    round((self.x1 + x / self.scale) / width, 4),
                    round((self.y1 + y / self.scale) / height, 4),
                    round((self.x1 + (x + w) / self.scale) / width, 4),
                    round((self.y1 + (y + h) / self.scale) / height, 4),
                )
            )
        return tuple(boxes)


@dataclass(frozen=True)
class Change:
    """One comparison: which working pixels changed, and which could be judged at all."""

    changed: np.ndarray
    seen: np.ndarray

    @property
    def ratio(self) -> float:
        seen = int(self.seen.sum())
        return float(self.changed.sum()) / seen if seen else 0.0


def compare(reference: np.ndarray, current: np.ndarray, zone_mask: np.ndarray, hidden: np.ndarray) -> Change:
    """Compare two same-sized BGR frames inside ``zone_mask``, ignoring ``hidden`` (bool, frame-sized)."""
    crop = Crop.of(zone_mask)
    seen = crop.take((zone_mask & ~hidden).astype(np.uint8) * 255, cv2.INTER_NEAREST) > 0
    ref_lab = cv2.cvtColor(crop.take(reference), cv2.COLOR_BGR2LAB)
    cur_lab = _match(cv2.cvtColor(crop.take(current), cv2.COLOR_BGR2LAB), ref_lab, seen)
    changed = (
        _structure_changed(ref_lab[..., 0], cur_lab[..., 0]) | _chroma_changed(ref_lab, cur_lab)
    ) & seen
    return Change(changed=_denoise(changed, int(seen.sum())) & seen, seen=seen)


def _match(source: np.ndarray, reference: np.ndarray, where: np.ndarray) -> np.ndarray:
    """``source`` under the reference's light, over ``where``: lightness mapped through a few matched
    percentiles (gain, offset and a bent response), colour shifted by the median difference (tint).

    Only coarse: a full histogram match would also map a new blue roof onto the reference's
    bluest pixels and so hide the very change the rule looks for."""
    if not where.any():
        return source
    out = source.astype(np.float32)
    knots = np.array(LIGHT_KNOTS)
    ref_l = np.percentile(reference[..., 0][where], knots)
    src_l = np.percentile(source[..., 0][where], knots)
    out[..., 0] = np.interp(out[..., 0], np.maximum.accumulate(src_l + np.arange(len(knots)) * 1e-3), ref_l)
    for channel in (1, 2):
        out[..., channel] += float(
            np.median(reference[..., channel][where]) - np.median(source[..., channel][where])
        )
    return np.clip(out, 0, 255).astype(np.uint8)


def _structure_changed(reference: np.ndarray, current: np.ndarray) -> np.ndarray:
    """SSIM's contrast-structure term per pixel, low where the neighbourhoods' patterns differ."""
    x = cv2.GaussianBlur(reference.astype(np.float32), (0, 0), 1.0)
    y = cv2.GaussianBlur(current.astype(np.float32), (0, 0), 1.0)

    def local(values: np.ndarray) -> np.ndarray:
        return cv2.GaussianBlur(values, (0, 0), WINDOW_SIGMA)

    mx, my = local(x), local(y)
    vx = np.maximum(local(x * x) - mx * mx, 0.0)
    vy = np.maximum(local(y * y) - my * my, 0.0)
    cov = local(x * y) - mx * my
    contrast_structure = (2 * cov + _C2) / (vx + vy + _C2)
    textured = np.sqrt(np.maximum(vx, vy)) > TEXTURE_FLOOR
    return np.asarray((contrast_structure < STRUCTURE_BELOW) & textured, dtype=bool)


def _chroma_changed(reference: np.ndarray, current: np.ndarray) -> np.ndarray:
    ref_ab = cv2.GaussianBlur(reference[..., 1:].astype(np.float32), (0, 0), WINDOW_SIGMA)
    cur_ab = cv2.GaussianBlur(current[..., 1:].astype(np.float32), (0, 0), WINDOW_SIGMA)
    return np.asarray(np.linalg.norm(ref_ab - cur_ab, axis=2) > CHROMA_ABOVE, dtype=bool)


def _denoise(changed: np.ndarray, seen_pixels: int) -> np.ndarray:
    """Open away specks, close small gaps, and drop blobs smaller than ``MIN_BLOB`` of the zone."""
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (3, 3))
    mask = cv2.morphologyEx(changed.astype(np.uint8), cv2.MORPH_OPEN, kernel)
    mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, kernel, iterations=2)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    keep = np.zeros(count, bool)
    keep[1:] = stats[1:, cv2.CC_STAT_AREA] >= MIN_BLOB * max(seen_pixels, 1)
    return np.asarray(keep[labels], dtype=bool)


def persistent_change(changes: list[Change]) -> tuple[np.ndarray, float]:
    """Pixels changed in every check that saw them (and in at least one), and their share of what was seen."""
    changed_or_unseen = np.logical_and.reduce([c.changed | ~c.seen for c in changes])
    persistent = changed_or_unseen & np.logical_or.reduce([c.changed for c in changes])
    seen = np.logical_or.reduce([c.seen for c in changes])
    return persistent, float(persistent.sum()) / max(int(seen.sum()), 1)
