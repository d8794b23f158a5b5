"""illegal_parking on synthetic tracks: time comes from the frames, so no test sleeps."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypedDict, Unpack

import cv2
import numpy as np
import pytest

from contract.event import IllegalParkingDetails, Phase
from edge.analysis.detections import Detections
from edge.analysis.zones import Zone
from edge.capture.frames import Frame
from edge.rules.base import AnalysedFrame, Finding
from edge.rules.context import RuleContext
from edge.rules.illegal_parking import IllegalParking, IllegalParkingConfig
from tests.edge.rules.findings import details_of

W, H = 640, 360
NAMES = {0: "person", 2: "car", 7: "truck"}
ZONE = Zone.from_points("kerb", [(0.0, 0.5), (1.0, 0.5), (1.0, 1.0), (0.0, 1.0)])


def texture(seed: int, height: int, width: int) -> np.ndarray:
    """Smooth random texture: real surfaces correlate over a few pixels, white noise does not."""
    noise = np.random.default_rng(seed).integers(0, 255, (height, width, 3)).astype(np.uint8)
    return cv2.GaussianBlur(noise, (0, 0), 4)


ROAD = texture(0, H, W)
LOOKS = {seed: texture(seed, 60, 80) for seed in range(1, 20)}


@dataclass(frozen=True)
class Obj:
    track: int
    x: float  # box centre x, pixels
    y: float  # box bottom y, pixels
    cls: int = 2
    conf: float = 0.8
    look: int = 0  # which vehicle it is (its texture); 0 = the same as its track number

    def paint(self, image: np.ndarray) -> None:
        x1, y1 = int(self.x - 40), int(self.y - 60)
        left = max(0, -x1)
        right = min(80, W - x1)
        image[y1 : y1 + 60, x1 + left : x1 + right] = LOOKS[self.look or self.track][:, left:right]


def frame(ts: float, *objs: Obj) -> AnalysedFrame:
    xyxy = np.array([[o.x - 40, o.y - 60, o.x + 40, o.y] for o in objs], np.float32).reshape(-1, 4)
    image = ROAD.copy()
    for o in objs:
        o.paint(image)
    return AnalysedFrame(
        Frame(image, ts),
        Detections(
            xyxy,
            np.array([o.conf for o in objs], np.float32),
            np.array([o.cls for o in objs], np.int64),
            np.array([o.track for o in objs], np.int64),
            NAMES,
        ),
    )


def play(
    rule: IllegalParking, timeline: list[tuple[float, list[Obj]]], close_at: float | None = None
) -> list[Finding]:
    found: list[Finding] = []
    for ts, objs in timeline:
        found += rule.update(frame(ts, *objs)).findings
    if close_at is not None:
        found += rule.close(close_at)
    return found


class Looks(TypedDict, total=False):
    """What ``stay`` may set on its object besides where it is."""

    cls: int
    conf: float
    look: int


def stay(
    track: int, x: float, y: float, start: float, end: float, step: float = 1.0, **kw: Unpack[Looks]
) -> list[tuple[float, list[Obj]]]:
    return [(t, [Obj(track, x, y, **kw)]) for t in np.arange(start, end + 1e-9, step)]


def parking(**overrides: object) -> IllegalParking:
    return IllegalParking(
        ZONE,
        IllegalParkingConfig.model_validate({"dwell_s": 10, "grace_s": 3, **overrides}),
        RuleContext("cam-1"),
    )


def phases(found: list[Finding]) -> list[tuple[str, float]]:
    return [(f.phase.value, round(f.observed_at, 1)) for f in found]


def test_vehicle_that_stays_past_dwell_starts_then_ends_after_grace() -> None:
    timeline = stay(1, 300, 300, 0, 20) + [(t, []) for t in range(21, 26)]
    found = play(parking(), timeline)
    assert phases(found) == [("start", 10.0), ("end", 20.0)]
    start, end = found
    assert start.episode == end.episode
    assert start.started_at == 0.0
    assert [s.label for s in start.snapshots] == ["arrival", "dwell"]
    assert start.snapshots[0].frame.ts == 0.0
    assert start.clip_at == 10.0
    assert details_of(end, IllegalParkingDetails).dwell_s == 20.0
    assert end.ended_at == 20.0
    assert details_of(start, IllegalParkingDetails).bbox == (
        round(260 / W, 4),
        round(240 / H, 4),
        round(340 / W, 4),
        round(300 / H, 4),
    )


@pytest.mark.parametrize(
    ("case", "timeline", "expected"),
    [
        ("too short", stay(1, 300, 300, 0, 9) + [(t, []) for t in range(10, 20)], []),
        ("outside the zone (anchor above the kerb line)", stay(1, 300, 150, 0, 30), []),
        ("a person is not a vehicle", stay(1, 300, 300, 0, 30, cls=0), []),
        ("low confidence ignored", stay(1, 300, 300, 0, 30, conf=0.1), []),
        ("a vehicle the tracker does not follow is not counted", stay(-1, 300, 300, 0, 30, look=1), []),
        ("moving through the zone", [(t, [Obj(1, 20 + 25 * t, 300)]) for t in range(25)], []),
        (
            "jitter within tolerance still counts",
            [(t, [Obj(1, 300 + (5 if t % 2 else -5), 300 + (3 if t % 3 else 0))]) for t in range(12)],
            [("start", 10.0)],
        ),
        (
            "stops after driving in: dwell counts from the stop",
            [(t, [Obj(1, 20 + 40 * t, 300)]) for t in range(5)] + stay(1, 180, 300, 5, 16),
            [("start", 14.0)],
        ),  # settled at t=4
        (
            "brief absence shorter than grace keeps the episode",
            stay(1, 300, 300, 0, 12) + [(13, []), (14, [])] + stay(1, 300, 300, 15, 16),
            [("start", 10.0)],
        ),
        (
            "new track id at the same spot inherits the stay",
            stay(1, 300, 300, 0, 6) + stay(9, 302, 301, 7, 11, look=1),
            [("start", 10.0)],
        ),
        (
            "a new track of a different vehicle at the spot does not inherit",
            stay(1, 300, 300, 0, 6) + stay(9, 302, 301, 7, 15),
            [],
        ),
        (
            "a look-alike back at the spot after it stood empty is not one long stay",
            stay(1, 300, 300, 0, 1) + [(t, []) for t in range(2, 9)] + stay(1, 300, 300, 9, 12),
            [],
        ),
        (
            "a queue of different cars passing one spot under one track id is not a parked car",
            [(t, [Obj(1, 300, 300, look=1 + t % 5)]) for t in range(25)],
            [],
        ),
    ],
)
def test_cases(case: str, timeline: list[tuple[float, list[Obj]]], expected: list[tuple[str, float]]) -> None:
    assert phases(play(parking(), timeline)) == expected, case


def test_two_vehicles_make_two_episodes() -> None:
    timeline = [(float(t), [Obj(1, 100, 300), Obj(2, 500, 320, cls=7)]) for t in range(12)]
    found = play(parking(), timeline)
    assert sorted(str(details_of(f, IllegalParkingDetails).label) for f in found) == ["car", "truck"]
    assert len({f.episode for f in found}) == 2


def test_close_ends_open_episodes_at_last_sighting() -> None:
    found = play(parking(), stay(1, 300, 300, 0, 15), close_at=30.0)
    assert phases(found) == [("start", 10.0), ("end", 15.0)]
    assert found[1].phase is Phase.end


def test_classes_setting_limits_what_counts() -> None:
    timeline = [(float(t), [Obj(1, 100, 300), Obj(2, 500, 320, cls=7)]) for t in range(12)]
    found = play(parking(classes=["truck"]), timeline)
    assert [details_of(f, IllegalParkingDetails).label for f in found] == ["truck"]
