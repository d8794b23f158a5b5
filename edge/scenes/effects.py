"""What happens to a view, as image operations with a physical reading.

* Dust and fog: the atmospheric scattering model ``I = J * t + A * (1 - t)`` (Koschmieder;
  He et al. 2009): ``J`` the clear view, ``A`` the airlight (warm yellow-brown for dust,
  grey for fog), ``t`` the transmission map, 1 where the air is clear.
* Light: a gain, a colour tint and a gamma, over the whole view (sun, cloud cover, dusk).
* Cloud shadows: a smooth random field drifting over the view, darkening and cooling it.
* Structures: a shed, a block or a container drawn into the view, with a cast shadow.
* Passers-by: real patches of people and vehicles, blended in with soft edges.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

Colour = tuple[float, float, float]
"""BGR, 0..255."""

DUST_AIRLIGHT: Colour = (150.0, 185.0, 215.0)
FOG_AIRLIGHT: Colour = (205.0, 205.0, 200.0)


def scatter(clear: np.ndarray, transmission: np.ndarray, airlight: Colour) -> np.ndarray:
    """The scattering model: ``transmission`` is (h, w) or a scalar in 0..1."""
    t = np.asarray(transmission, np.float32)
    if t.ndim == 2:
        t = t[..., None]
    return clear.astype(np.float32) * t + np.array(airlight, np.float32) * (1.0 - t)


def smooth_field(rng: np.random.Generator, size: tuple[int, int], cells: int) -> np.ndarray:
    """A smooth random field in -1..1 of (height, width) ``size``, with about ``cells`` blobs across."""
    height, width = size
    coarse = rng.uniform(-1, 1, (max(2, cells * height // width), cells)).astype(np.float32)
    field = cv2.resize(coarse, (width, height), interpolation=cv2.INTER_CUBIC)
    return np.asarray(np.clip(field / max(float(np.abs(field).max()), 1e-6), -1, 1))


def soft_mask(mask: np.ndarray, spill_px: float) -> np.ndarray:
    """A 0..1 version of a bool mask whose edge fades over about ``spill_px`` pixels."""
    return cv2.GaussianBlur(mask.astype(np.float32), (0, 0), max(spill_px, 0.5))


@dataclass(frozen=True)
class Plume:
    """Dust over a region: density ramps in, drifts with the wind, ramps out."""

    region: np.ndarray
    """0..1 (h, w): where the dust is (a soft zone mask)."""
    field: np.ndarray
    """A smooth field twice the view's width, scrolled by the wind."""
    t_min: float
    start_s: float
    end_s: float
    ramp_s: float
    wind_px_s: float

    def transmission(self, t: float) -> np.ndarray:
        ramp = float(np.clip(min(t - self.start_s, self.end_s - t) / self.ramp_s, 0.0, 1.0))
        if ramp == 0.0:
            return np.ones_like(self.region)
        width = self.region.shape[1]
        shift = int(t * self.wind_px_s) % width
        puffs = self.field[:, shift : shift + width]
        flicker = 1.0 + 0.08 * np.sin(t / 3.0)
        density = np.clip((0.8 + 0.3 * puffs) * flicker, 0.0, 1.0) * self.region
        return np.asarray(1.0 - (1.0 - self.t_min) * ramp * density)


def light(image: np.ndarray, gain: float, tint: Colour = (1.0, 1.0, 1.0), gamma: float = 1.0) -> np.ndarray:
    """The same view under other light: ``gamma`` bends the response, ``gain`` and ``tint`` scale it."""
    normalised = np.clip(image.astype(np.float32) / 255.0, 0, 1) ** gamma
    return np.asarray(normalised * 255.0 * gain * np.array(tint, np.float32))


def cloud_shadows(image: np.ndarray, field: np.ndarray, offset_px: int, depth: float) -> np.ndarray:
    """Shadows where ``field`` (twice the view's width) is high, scrolled by ``offset_px``;
    ``depth`` is the darkening in the deepest shadow. Shade is lit by the sky: a little bluer."""
    width = image.shape[1]
    cover = np.clip(field[:, offset_px % width : offset_px % width + width] * 1.5, 0, 1)[..., None]
    shade = 1.0 - depth * cover
    return image.astype(np.float32) * shade * (1.0 + np.array([0.06, 0.0, -0.04], np.float32) * cover)


@dataclass(frozen=True)
class Structure:
    """A building drawn into a view: ``kind`` is shed, block or container; box in pixels (x, y, w, h)."""

    kind: str
    box: tuple[int, int, int, int]
    colour: Colour
    roof: Colour

    def draw(self, image: np.ndarray) -> np.ndarray:
        out = image.astype(np.float32).copy()
        x, y, w, h = self.box
        shadow = np.array(
            [
                [x + w, y + h],
                [x + w + w // 4, y + h - h // 6],
                [x + w + w // 4, y + h // 3],
                [x + w, y + h // 2],
            ],
            np.int32,
        )
        cast = np.zeros(out.shape[:2], np.uint8)
        cv2.fillPoly(cast, [shadow], 1)
        out[cast > 0] *= 0.6
        out[y : y + h, x : x + w] = self._facade(w, h)
        if self.kind == "shed":
            roof = np.array(
                [[x - 2, y + 1], [x + w + 2, y + 1], [x + w - w // 8, y - h // 3], [x + w // 8, y - h // 3]],
                np.int32,
            )
            cv2.fillPoly(out, [roof], self.roof)
        return out

    def _facade(self, w: int, h: int) -> np.ndarray:
        wall = np.empty((h, w, 3), np.float32)
        wall[:] = self.colour
        if self.kind in ("shed", "container"):  # corrugated steel: vertical ribs
            wall[:, ::4] *= 0.72
        if self.kind == "block":  # brick courses and a few dark windows
            wall[::5] *= 0.75
            for i, row in enumerate(range(2, h - 4, 8)):
                for col in range(3 + (i % 2) * 4, w - 5, 11):
                    wall[row : row + 4, col : col + 5] = (40, 40, 45)
        if self.kind == "shed":
            wall[h // 3 :, w // 2 - 3 : w // 2 + 3] = (60, 60, 60)  # a door
        return wall * np.linspace(1.0, 0.85, w, dtype=np.float32)[None, :, None]  # side light


def paste(image: np.ndarray, patch: np.ndarray, x: int, y: int, height: int) -> np.ndarray:
    """``patch`` scaled to ``height`` pixels tall, top-left at (x, y), its edges faded into the view."""
    scale = height / patch.shape[0]
    resized = cv2.resize(patch, (max(1, round(patch.shape[1] * scale)), height), interpolation=cv2.INTER_AREA)
    h, w = resized.shape[:2]
    h, w = min(h, image.shape[0] - y), min(w, image.shape[1] - x)
    if h <= 0 or w <= 0:
        return image
    alpha = np.zeros((h, w), np.float32)
    cv2.ellipse(alpha, (w // 2, h // 2), (max(1, w // 2 - 1), max(1, h // 2 - 1)), 0, 0, 360, 1.0, -1)
    alpha = cv2.GaussianBlur(alpha, (0, 0), 1.0)[..., None]
    out = image.astype(np.float32).copy()
    out[y : y + h, x : x + w] = alpha * resized[:h, :w] + (1 - alpha) * out[y : y + h, x : x + w]
    return out


def camera(image: np.ndarray, rng: np.random.Generator, noise: float = 2.0) -> np.ndarray:
    """Sensor noise and clipping: what leaves the camera."""
    noisy = image + rng.normal(0, noise, image.shape).astype(np.float32)
    return np.asarray(np.clip(noisy, 0, 255)).astype(np.uint8)
