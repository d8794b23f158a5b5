"""Scenes with a known truth, composed from real frames of the shared footage.

A white van cut from a real frame of highway.mp4 is moved over that road's own
empty background (the median of its frames): it drives in, stays a known number
of seconds, and drives away. The recording is H.264, so the edge reads it exactly
as it reads a camera.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

VAN_FRAME = 150
VAN_BOX = (176, 264, 241, 327)
"""The van in frame 150 of highway.mp4 (the detector's box, widened by 4 px)."""


@dataclass(frozen=True)
class Visit:
    """The van drives from ``start`` to ``stop`` in ``drive_s``, stays ``stay_s``, then drives back out."""

    start: tuple[int, int]
    stop: tuple[int, int]
    arrive_at_s: float
    drive_s: float
    stay_s: float

    def position(self, t: float) -> tuple[int, int] | None:
        """Top-left corner of the van at time t, or None while it is off stage."""
        enter, parked = self.arrive_at_s, self.arrive_at_s + self.drive_s
        leave, gone = parked + self.stay_s, parked + self.stay_s + self.drive_s
        if t < enter or t >= gone:
            return None
        if t < parked:
            k = (t - enter) / self.drive_s
        elif t < leave:
            k = 1.0
        else:
            k = 1.0 - (t - leave) / self.drive_s
        return (
            round(self.start[0] + k * (self.stop[0] - self.start[0])),
            round(self.start[1] + k * (self.stop[1] - self.start[1])),
        )


def _decoded(source: Path) -> list[np.ndarray]:
    with av.open(str(source)) as container:
        return [frame.to_ndarray(format="bgr24") for frame in container.decode(video=0)]


def highway_parts(highway: Path) -> tuple[np.ndarray, np.ndarray]:
    """The empty road (median of every 15th frame) and the van's patch."""
    frames = _decoded(highway)
    background = np.median(np.stack(frames[::15]), axis=0).astype(np.uint8)
    x1, y1, x2, y2 = VAN_BOX
    return background, frames[VAN_FRAME][y1:y2, x1:x2].copy()


def compose(background: np.ndarray, patch: np.ndarray, visit: Visit, t: float) -> np.ndarray:
    image = background.copy()
    where = visit.position(t)
    if where is None:
        return image
    x, y = where
    height, width = patch.shape[:2]
    image[y : y + height, x : x + width] = patch
    return image


def write_scene(path: Path, highway: Path, visits: list[Visit], duration_s: float, fps: int = 10) -> Path:
    """An H.264 MP4 of the visits over the empty road, one keyframe every two seconds."""
    background, patch = highway_parts(highway)
    height, width = background.shape[:2]
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=fps, options={"g": str(2 * fps), "preset": "veryfast"})
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.time_base = Fraction(1, fps)
        for i in range(round(duration_s * fps)):
            image = background
            for visit in visits:
                image = compose(image, patch, visit, i / fps)
            frame = av.VideoFrame.from_ndarray(image, format="bgr24")
            frame.pts = i
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return path
