"""Is this still the same object? A cheap appearance check that trackers lack at low frame rates.

At one frame a second a tracker matches boxes by position alone, so on a busy road the
car that takes the place of the one ahead inherits its track: a "vehicle" that never
moves. Comparing what the box shows now with what it showed when the vehicle settled
tells a parked car (same pixels) from a stream of different ones.
"""

from __future__ import annotations

import cv2
import numpy as np

SIZE = 24


def thumbnail(image: np.ndarray, xyxy: np.ndarray) -> np.ndarray:
    """The box's content as a unit-norm colour patch, each channel zero-mean, so that brightness and
    contrast cancel out but a red car and a grey one with the same outline do not."""
    height, width = image.shape[:2]
    x1, y1 = max(int(xyxy[0]), 0), max(int(xyxy[1]), 0)
    x2, y2 = min(int(np.ceil(xyxy[2])), width), min(int(np.ceil(xyxy[3])), height)
    if x2 - x1 < 2 or y2 - y1 < 2:
        return np.zeros(SIZE * SIZE, np.float32)
    patch = cv2.resize(image[y1:y2, x1:x2], (SIZE, SIZE), interpolation=cv2.INTER_AREA).astype(np.float32)
    patch = np.asarray(patch - patch.mean(axis=(0, 1)), dtype=np.float32).ravel()
    norm = float(np.linalg.norm(patch))
    return patch / norm if norm > 1e-6 else patch


def similarity(a: np.ndarray, b: np.ndarray) -> float:
    """Normalised cross-correlation of two thumbnails: 1 identical, about 0 unrelated."""
    return float(np.dot(a, b))
