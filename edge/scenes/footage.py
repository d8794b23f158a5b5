"""Real pixels for composed scenes, and the H.264 writer that turns composed frames into recordings.

Backgrounds are still frames of the shared footage (a construction site beside a car park,
a motorway); the things that pass or appear are cut from real frames too (a van and cars
from that footage, people from Ultralytics' own sample photo). Recordings carry their own
time: ``creation_time`` in the container and each frame's pts, so a scene can span days
in a few dozen frames and the edge reads it exactly as it reads a camera.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from fractions import Fraction
from functools import cache
from pathlib import Path

import av
import cv2
import numpy as np

HIGHWAY = "highway.mp4"
SITE = "parking_row.mp4"


@dataclass(frozen=True)
class Cut:
    """A patch of a real frame: which file, which frame, which box (x1, y1, x2, y2 pixels)."""

    source: str
    frame: int
    box: tuple[int, int, int, int]


VAN = Cut(HIGHWAY, 150, (176, 264, 241, 327))
"""The white van of highway.mp4's frame 150 (the detector's box, widened by 4 px)."""
CARS = (
    Cut(SITE, 10, (288, 192, 340, 242)),
    Cut(SITE, 60, (383, 210, 458, 256)),
    Cut(SITE, 80, (254, 204, 297, 244)),
)
"""Parked cars of parking_row.mp4, as the detector boxed them."""
PEOPLE = ((48, 396, 242, 903), (221, 405, 345, 859), (669, 391, 810, 880))
"""People in Ultralytics' ``assets/bus.jpg``."""


class Footage:
    """Decoded frames of the shared media, each file decoded once."""

    def __init__(self, media: Path) -> None:
        self.media = media
        for name in (HIGHWAY, SITE):
            if not (media / name).exists():
                raise FileNotFoundError(f"sample footage '{name}' not found in {media} (see --shared)")

    @cache  # noqa: B019 -- one Footage per generator run; the cache is the point
    def frames(self, name: str) -> list[np.ndarray]:
        with av.open(str(self.media / name)) as container:
            return [frame.to_ndarray(format="bgr24") for frame in container.decode(video=0)]

    @cache  # noqa: B019
    def empty_road(self) -> np.ndarray:
        """highway.mp4 without its traffic: the median of every 15th frame."""
        return np.asarray(np.median(np.stack(self.frames(HIGHWAY)[::15]), axis=0)).astype(np.uint8)

    def cut(self, cut: Cut) -> np.ndarray:
        x1, y1, x2, y2 = cut.box
        return self.frames(cut.source)[cut.frame][y1:y2, x1:x2].copy()

    @staticmethod
    def people() -> list[np.ndarray]:
        from ultralytics.utils import ASSETS  # the sample photo ships with the detector's package

        photo = cv2.imread(str(ASSETS / "bus.jpg"))
        if photo is None:
            raise FileNotFoundError(f"{ASSETS / 'bus.jpg'} is missing from the Ultralytics package")
        return [photo[y1:y2, x1:x2].copy() for x1, y1, x2, y2 in PEOPLE]


@dataclass(frozen=True)
class Timed:
    """One frame of a recording and its time, in seconds after the recording's start."""

    image: np.ndarray
    t: float


def write_recording(path: Path, frames: Iterable[Timed], start: datetime, *, keyframe_every: int) -> Path:
    """An H.264 MP4 whose frames keep the given times (millisecond pts, so gaps of days are fine),
    stamped with ``creation_time`` = ``start``; ``keyframe_every`` frames make one GOP."""
    with av.open(str(path), "w", options={"video_track_timescale": "1000"}) as out:
        out.metadata["creation_time"] = start.isoformat()
        stream: av.VideoStream | None = None
        for timed in frames:
            if stream is None:
                stream = out.add_stream(
                    "libx264",
                    rate=Fraction(1000),
                    options={"g": str(keyframe_every), "preset": "veryfast", "crf": "21", "bf": "0"},
                )
                stream.height, stream.width = timed.image.shape[:2]
                stream.pix_fmt, stream.time_base = "yuv420p", Fraction(1, 1000)
            frame = av.VideoFrame.from_ndarray(timed.image, format="bgr24")
            frame.pts, frame.time_base = round(timed.t * 1000), Fraction(1, 1000)
            out.mux(stream.encode(frame))
        if stream is None:
            raise ValueError(f"{path}: a recording needs at least one frame")
        out.mux(stream.encode(None))
    return path
