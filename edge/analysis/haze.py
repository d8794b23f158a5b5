"""How hazy a region looks, against that camera's own clean look: the measures behind the dust rule.

Three cues, each chosen to survive a change of light (they are ratios, so a brighter or
darker scene leaves them alone) and each moved by dust in a known direction:

* ``dark``: the dark channel (the darkest colour in a small patch, He et al. 2009) over the
  mean brightness. Clear outdoor scenes have a near-black dark channel; airlight lifts it.
* ``edges``: mean gradient magnitude over mean brightness. Dust veils detail, so it falls.
* ``warmth``: the mean of (R - B) / (R + G + B). Construction dust is yellow-brown, fog is grey.

Against a baseline of the same measures on clean frames, the score (0..1) is::

    haze          = clip((dark - dark0) / DARK_SPAN, 0, 1)
    contrast_loss = clip(1 - edges / edges0, 0, 1)
    warm_cast     = clip((warmth - warmth0) / WARM_SPAN, 0, 1)
    score         = W_HAZE * haze + W_CONTRAST * contrast_loss + W_WARM * warm_cast
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

WORK_WIDTH = 320
"""Frames are measured at this width: haze is a large-scale property, and the box has few cores."""
DARK_PATCH = 7
"""Dark-channel patch in pixels at ``WORK_WIDTH`` (15 px at 640, as in the paper)."""

DARK_SPAN = 0.2
WARM_SPAN = 0.06
W_HAZE, W_CONTRAST, W_WARM = 0.3, 0.4, 0.3
"""Spans and weights, calibrated on the generated suite (docs/architecture.md): warm dust at transmission
0.5 scores about 0.5, a grey tarp over half the zone about 0.3. The colour cast is what sets dust apart
from an object, so it weighs as much as the dark channel; over ground as warm as the dust itself (dry
grass, bare earth) it cannot show, and the veil alone must then carry the score."""


@dataclass(frozen=True)
class HazeMeasures:
    """Means over one region of one frame (see the module docstring)."""

    dark: float
    edges: float
    warmth: float
    luminance: float
    """Mean luma, 0..255: too little light and the other measures are noise."""

    def blend(self, other: HazeMeasures, weight: float) -> HazeMeasures:
        """Move ``weight`` (0..1) of the way towards ``other``: one step of a rolling baseline."""
        keep = 1.0 - weight
        return HazeMeasures(
            dark=keep * self.dark + weight * other.dark,
            edges=keep * self.edges + weight * other.edges,
            warmth=keep * self.warmth + weight * other.warmth,
            luminance=keep * self.luminance + weight * other.luminance,
        )


@dataclass(frozen=True)
class HazeScore:
    score: float
    haze: float
    contrast_loss: float
    warm_cast: float

    def blend(self, other: HazeScore, weight: float) -> HazeScore:
        """Move ``weight`` (0..1) of the way towards ``other``: one step of a running average."""
        keep = 1.0 - weight
        return HazeScore(
            score=keep * self.score + weight * other.score,
            haze=keep * self.haze + weight * other.haze,
            contrast_loss=keep * self.contrast_loss + weight * other.contrast_loss,
            warm_cast=keep * self.warm_cast + weight * other.warm_cast,
        )

    def parts(self) -> dict[str, float]:
        return {
            "haze": round(self.haze, 3),
            "contrast_loss": round(self.contrast_loss, 3),
            "warm_cast": round(self.warm_cast, 3),
        }


@dataclass(frozen=True)
class HazeMaps:
    """Per-pixel cues of one frame at working size, computed once and shared by every region."""

    dark: np.ndarray
    brightness: np.ndarray
    gradient: np.ndarray
    warmth: np.ndarray
    luma: np.ndarray

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) of the maps, for building region masks."""
        return int(self.luma.shape[1]), int(self.luma.shape[0])

    @classmethod
    def of(cls, image: np.ndarray) -> HazeMaps:
        height, width = image.shape[:2]
        scale = min(1.0, WORK_WIDTH / width)
        small = cv2.resize(image, (round(width * scale), round(height * scale)), interpolation=cv2.INTER_AREA)
        pixels = small.astype(np.float32)
        kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (DARK_PATCH, DARK_PATCH))
        dark = cv2.erode(pixels.min(axis=2), kernel)
        luma = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY).astype(np.float32)
        gx = cv2.Sobel(luma, cv2.CV_32F, 1, 0, ksize=3)
        gy = cv2.Sobel(luma, cv2.CV_32F, 0, 1, ksize=3)
        blue, red = pixels[..., 0], pixels[..., 2]
        warmth = (red - blue) / (pixels.sum(axis=2) + 1.0)
        return cls(
            dark=dark,
            brightness=pixels.mean(axis=2),
            gradient=cv2.magnitude(gx, gy),
            warmth=warmth,
            luma=luma,
        )

    def measure(self, mask: np.ndarray) -> HazeMeasures:
        """The region's measures; ``mask`` is a bool array of the maps' size."""
        brightness = float(self.brightness[mask].mean()) + 1.0
        return HazeMeasures(
            dark=float(self.dark[mask].mean()) / brightness,
            edges=float(self.gradient[mask].mean()) / brightness,
            warmth=float(self.warmth[mask].mean()),
            luminance=float(self.luma[mask].mean()),
        )


def score(current: HazeMeasures, baseline: HazeMeasures) -> HazeScore:
    """How much hazier ``current`` is than ``baseline`` (the formula in the module docstring)."""
    haze = float(np.clip((current.dark - baseline.dark) / DARK_SPAN, 0.0, 1.0))
    contrast_loss = float(np.clip(1.0 - current.edges / max(baseline.edges, 1e-6), 0.0, 1.0))
    warm_cast = float(np.clip((current.warmth - baseline.warmth) / WARM_SPAN, 0.0, 1.0))
    total = W_HAZE * haze + W_CONTRAST * contrast_loss + W_WARM * warm_cast
    return HazeScore(score=total, haze=haze, contrast_loss=contrast_loss, warm_cast=warm_cast)
