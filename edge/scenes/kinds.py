"""The three kinds of labelled scene, one class each, all of one shape: ``frames`` (what the camera
sees, with times), ``camera`` (the edge configuration that watches it) and ``expect`` (the truth).

* ``DustScene``: 90 s at 2 fps; from 15 s to 80 s a plume over the zone (positive) or, as
  negatives, fog or a sandstorm over the whole view, dusk, or drifting cloud shadows.
* ``BuildingScene``: five days, one frame an hour from 07:00 to 17:00 local; a structure
  appears on the first afternoon and stays (positive), or only people and vehicles come and
  go, the light changes from day to day and clouds pass (negatives).
* ``ParkingScene``: 20 s at 10 fps; a real van drives along waypoints over the empty motorway.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any, Literal

import numpy as np

from contract.event import EventType
from edge.analysis.zones import Zone
from edge.evaluation.labels import Expectation
from edge.scenes import effects
from edge.scenes.footage import CARS, HIGHWAY, VAN, Footage, Timed

Polygon = list[tuple[float, float]]
DAY_S = 86400.0


@dataclass(frozen=True)
class View:
    """The clear view: a still of the shared footage, the empty motorway (``index`` None), or the
    motorway's own traffic (``live``), played forwards and backwards."""

    source: str
    index: int | None = None
    live: bool = False

    def at(self, footage: Footage, t: float) -> np.ndarray:
        if self.live:
            frames = footage.frames(self.source)
            i = round(t * 30) % (2 * len(frames) - 2)  # the footage is 30 fps
            return frames[i if i < len(frames) else 2 * len(frames) - 2 - i]
        if self.index is None:
            return footage.empty_road()
        return footage.frames(self.source)[self.index]


def _zone_mask(polygon: Polygon, image: np.ndarray) -> np.ndarray:
    height, width = image.shape[:2]
    return Zone.from_points("scene", polygon).mask(width, height) > 0


@dataclass(frozen=True)
class DustScene:
    id: str
    description: str
    view: View
    zone: Polygon
    effect: Literal["dust", "fog", "sandstorm", "dusk", "clouds"]
    t_min: float = 0.45
    airlight: effects.Colour = effects.DUST_AIRLIGHT
    seed: int = 0
    zone_id: str = "site"
    fps: float = 2.0
    duration_s: float = 90.0
    onset_s: float = 15.0
    clear_s: float = 80.0
    keyframe_every: int = 4

    def frames(self, footage: Footage) -> Iterator[Timed]:
        rng = np.random.default_rng(self.seed)
        first = self.view.at(footage, 0.0)
        height, width = first.shape[:2]
        region = effects.soft_mask(_zone_mask(self.zone, first), spill_px=6)
        wide = effects.smooth_field(rng, (height, 2 * width), cells=12)
        plume = effects.Plume(
            region,
            wide,
            self.t_min,
            self.onset_s,
            self.clear_s,
            ramp_s=8.0,
            wind_px_s=float(rng.uniform(2, 8)),
        )
        depth = (0.1 * np.linspace(1, 0, height, dtype=np.float32))[:, None]  # the horizon is further away
        for i in range(round(self.duration_s * self.fps)):
            t = i / self.fps
            image = self.view.at(footage, t).astype(np.float32)
            ramp = float(np.clip(min(t - self.onset_s, self.clear_s - t) / 8.0, 0.0, 1.0))
            if self.effect == "dust":
                image = effects.scatter(image, plume.transmission(t), self.airlight)
            elif self.effect in ("fog", "sandstorm"):
                airlight = effects.FOG_AIRLIGHT if self.effect == "fog" else self.airlight
                transmission = np.broadcast_to(1.0 - ramp * (1.0 - self.t_min - depth), (height, width))
                image = effects.scatter(image, transmission, airlight)
            elif self.effect == "dusk":
                image = effects.light(
                    image,
                    1.0 - 0.45 * ramp,
                    (1 - 0.2 * ramp, 1 - 0.05 * ramp, 1 + 0.15 * ramp),
                    1.0 + 0.15 * ramp,
                )
            elif ramp > 0:
                image = effects.cloud_shadows(image, wide, int(t * 6), 0.45 * ramp)
            yield Timed(effects.camera(image, rng), t)

    def camera(self) -> dict[str, Any]:
        return {
            "analysis_fps": 1,
            "zones": [{"id": self.zone_id, "polygon": self.zone, "rules": {EventType.dust.value: {}}}],
        }

    def expect(self) -> list[Expectation]:
        if self.effect != "dust":
            return []
        return [
            Expectation(type=EventType.dust, zone=self.zone_id, after_s=self.onset_s, before_s=self.clear_s)
        ]


@dataclass(frozen=True)
class Weather:
    """One day's light at the check hour: overall gain, colour tint, gamma."""

    gain: float = 1.0
    tint: effects.Colour = (1.0, 1.0, 1.0)
    gamma: float = 1.0


@dataclass(frozen=True)
class BuildingScene:
    id: str
    description: str
    view: View
    zone: Polygon
    structure: effects.Structure | None = None
    passers: int = 0
    """Up to this many people and vehicles in the zone in any frame."""
    weather: tuple[Weather, ...] = (Weather(),)
    clouds: bool = False
    seed: int = 0
    zone_id: str = "site"
    days: int = 5
    hours: tuple[int, ...] = tuple(range(7, 18))
    appears_s: float = 6 * 3600.0
    """When the structure is there, seconds after the first frame (07:00 on day 0): 13:00 on day 0."""
    utc_offset_h: float = 8.0
    keyframe_every: int = 1

    def frames(self, footage: Footage) -> Iterator[Timed]:
        rng = np.random.default_rng(self.seed)
        clear = self.view.at(footage, 0.0)
        height, width = clear.shape[:2]
        built = self.structure.draw(clear) if self.structure else clear
        people, zone = footage.people(), _zone_mask(self.zone, clear)
        field_ = effects.smooth_field(rng, (height, 2 * width), cells=8)
        for day in range(self.days):
            weather = self.weather[day % len(self.weather)]
            for hour in self.hours:
                t = day * DAY_S + (hour - self.hours[0]) * 3600.0
                image = built if self.structure and t >= self.appears_s else clear
                image = self._passers(image.astype(np.float32), footage, people, zone, rng)
                sun = 0.75 + 0.3 * np.sin(np.pi * (hour - 6) / 12)
                low = abs(hour - 12) / 6  # low sun: warmer light
                blue, green, red = weather.tint
                tint = (blue * (1 - 0.12 * low), green, red * (1 + 0.1 * low))
                image = effects.light(image, weather.gain * sun, tint, weather.gamma)
                if self.clouds:
                    image = effects.cloud_shadows(image, field_, int(rng.integers(0, width)), 0.45)
                yield Timed(effects.camera(image, rng), t)

    def _passers(
        self,
        image: np.ndarray,
        footage: Footage,
        people: list[np.ndarray],
        zone: np.ndarray,
        rng: np.random.Generator,
    ) -> np.ndarray:
        ys, xs = np.nonzero(zone)
        scale = image.shape[0] / 360  # patch heights are for a 360-line view
        for _ in range(int(rng.integers(0, self.passers + 1))):
            i = int(rng.integers(0, len(xs)))
            if rng.random() < 0.5:
                patch, height = people[int(rng.integers(0, len(people)))], round(rng.uniform(22, 30) * scale)
            else:
                cut = [*CARS, VAN][int(rng.integers(0, len(CARS) + 1))]
                patch, height = footage.cut(cut), round(rng.uniform(22, 34) * scale)
            image = effects.paste(
                image, patch, max(0, int(xs[i]) - height // 2), max(0, int(ys[i]) - height), height
            )
        return image

    def camera(self) -> dict[str, Any]:
        rules = {EventType.illegal_building.value: {"utc_offset_h": self.utc_offset_h}}
        return {"analysis_fps": 1, "zones": [{"id": self.zone_id, "polygon": self.zone, "rules": rules}]}

    def expect(self) -> list[Expectation]:
        if self.structure is None:
            return []
        end = self.days * DAY_S
        return [
            Expectation(
                type=EventType.illegal_building, zone=self.zone_id, after_s=self.appears_s, before_s=end
            )
        ]


Waypoint = tuple[float, int, int]
"""(t seconds, x, y): the van's top-left corner at that moment."""


@dataclass(frozen=True)
class ParkingScene:
    id: str
    description: str
    zone: Polygon
    route: tuple[Waypoint, ...] = ()
    """The van's path, linear between waypoints; off stage before the first and after the last."""
    parked: tuple[float, float] | None = None
    """(settled, leaves) in seconds, when the van is parked in the zone: the truth."""
    traffic: bool = False
    """Use highway.mp4's own moving traffic instead of the empty road."""
    zone_id: str = "kerb"
    fps: float = 10.0
    duration_s: float = 20.0
    keyframe_every: int = 20
    extra: tuple[tuple[Waypoint, ...], ...] = field(default_factory=tuple)
    """More vans, each with its own route (moving traffic)."""

    def frames(self, footage: Footage) -> Iterator[Timed]:
        rng = np.random.default_rng(0)
        view = View(HIGHWAY, live=self.traffic)
        van = footage.cut(VAN)
        for i in range(round(self.duration_s * self.fps)):
            t = i / self.fps
            image = view.at(footage, t).astype(np.float32)
            for route in (self.route, *self.extra):
                where = _position(route, t)
                if where is not None:
                    image = _place(image, van, *where)
            yield Timed(effects.camera(image, rng, noise=1.0), t)

    def camera(self) -> dict[str, Any]:
        rules = {EventType.illegal_parking.value: {"dwell_s": 5, "grace_s": 2}}
        return {"analysis_fps": 5, "zones": [{"id": self.zone_id, "polygon": self.zone, "rules": rules}]}

    def expect(self) -> list[Expectation]:
        if self.parked is None:
            return []
        settled, leaves = self.parked
        return [
            Expectation(type=EventType.illegal_parking, zone=self.zone_id, after_s=settled, before_s=leaves)
        ]


def _position(route: tuple[Waypoint, ...], t: float) -> tuple[int, int] | None:
    if not route or t < route[0][0] or t > route[-1][0]:
        return None
    for (t0, x0, y0), (t1, x1, y1) in pairwise(route):
        if t0 <= t <= t1:
            k = (t - t0) / (t1 - t0) if t1 > t0 else 1.0
            return round(x0 + k * (x1 - x0)), round(y0 + k * (y1 - y0))
    return route[-1][1], route[-1][2]


def _place(image: np.ndarray, patch: np.ndarray, x: int, y: int) -> np.ndarray:
    """``patch`` with its top-left at (x, y), cut where it leaves the view."""
    height, width = image.shape[:2]
    x1, y1, x2, y2 = max(x, 0), max(y, 0), min(x + patch.shape[1], width), min(y + patch.shape[0], height)
    if x2 > x1 and y2 > y1:
        image[y1:y2, x1:x2] = patch[y1 - y : y2 - y, x1 - x : x2 - x]
    return image
