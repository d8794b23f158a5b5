"""illegal_building on synthetic days: frames carry their own timestamps, so a week takes a second.

Checks are due daily at 10:00 UTC; the scene gets a shed, people and vehicles, shadows and a
change of light, and the rule must tell the shed from the rest.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from contract.event import IllegalBuildingDetails, Phase
from edge.analysis.detections import Detections
from edge.analysis.zones import Zone
from edge.capture.frames import Frame
from edge.rules.base import AnalysedFrame, Finding
from edge.rules.bound import BoundRule
from edge.rules.context import RuleContext
from edge.rules.illegal_building import IllegalBuilding, IllegalBuildingConfig
from tests.edge.rules.findings import details_of

W, H = 320, 180
DAY = 86400.0
T0 = 1_793_000_000.0 // DAY * DAY  # a UTC midnight in 2026
ZONE = Zone.from_points("lot", [(0.1, 0.2), (0.9, 0.2), (0.9, 0.9), (0.1, 0.9)])
NAMES = {0: "person", 2: "car"}
SHED = (150, 70, 80, 45)  # x, y, w, h in pixels: about 9 % of the zone


def _scene(seed: int = 3) -> np.ndarray:
    rng = np.random.default_rng(seed)
    image = rng.normal(110, 15, (H, W, 3)).clip(0, 255).astype(np.float32)
    for _ in range(120):
        x, y, w, h = rng.integers(0, W), rng.integers(0, H), rng.integers(4, 24), rng.integers(4, 16)
        image[y : y + h, x : x + w] = rng.uniform(40, 200, 3)
    return image


SCENE = _scene()


def with_shed(image: np.ndarray) -> np.ndarray:
    x, y, w, h = SHED
    out = image.copy()
    out[y : y + h, x : x + w] = (185, 140, 90)  # a blue steel shed...
    out[y : y + h, x : x + w : 5] = (120, 90, 60)  # ...with corrugated walls
    return out


def with_car(image: np.ndarray, x: int, y: int) -> np.ndarray:
    out = image.copy()
    out[y : y + 20, x : x + 36] = (30, 30, 160)
    return out


class Day:
    """What the camera sees at one moment: the scene, plus what is there, in which light."""

    def __init__(
        self,
        shed: bool = False,
        car_at: tuple[int, int] | None = None,
        car_detected: bool = True,
        gain: float = 1.0,
        tint: tuple[float, float, float] = (1.0, 1.0, 1.0),
        shadow: float = 1.0,
    ) -> None:
        self.shed, self.car_at, self.car_detected = shed, car_at, car_detected
        self.gain, self.tint, self.shadow = gain, tint, shadow

    def frame(self, ts: float) -> AnalysedFrame:
        image = with_shed(SCENE) if self.shed else SCENE
        boxes: list[list[float]] = []
        if self.car_at:
            image = with_car(image, *self.car_at)
            if self.car_detected:
                boxes.append([self.car_at[0], self.car_at[1], self.car_at[0] + 36, self.car_at[1] + 20])
        lit = image * np.array(self.tint, np.float32) * self.gain
        if self.shadow != 1.0:  # a soft cloud shadow over the left half
            ramp = np.clip((W / 2 - np.arange(W)) / 40 + 0.5, 0, 1)[None, :, None]
            lit = lit * (1 - (1 - self.shadow) * ramp)
        noise = np.random.default_rng(int(ts) % 1000).normal(0, 2, lit.shape)
        pixels = (lit + noise).clip(0, 255).astype(np.uint8)
        detections = Detections(
            np.array(boxes, np.float32).reshape(-1, 4),
            np.full(len(boxes), 0.8, np.float32),
            np.full(len(boxes), 2, np.int64),
            np.arange(len(boxes), dtype=np.int64),
            NAMES,
        )
        return AnalysedFrame(Frame(pixels, ts), detections)


CLEAR = Day()
Week = Callable[[int], Day]
"""Day number -> what the 10:00 frame shows (other hours show the same)."""


Watched = IllegalBuilding | BoundRule
"""The rule itself, or bound to a folder that keeps its reference as the pipeline does."""


def look(rule: Watched, analysed: AnalysedFrame) -> list[Finding]:
    return rule.update(analysed) if isinstance(rule, BoundRule) else rule.update(analysed).findings


def play(rule: Watched, week: Week, days: int, hours: tuple[int, ...] = (9, 10, 13)) -> list[Finding]:
    found: list[Finding] = []
    for day in range(days):
        for hour in hours:
            found += look(rule, week(day).frame(T0 + day * DAY + hour * 3600.0))
    return found


def building(folder: Path | None = None, **overrides: object) -> IllegalBuilding:
    return IllegalBuilding(
        ZONE, IllegalBuildingConfig.model_validate(overrides), RuleContext("cam-1", folder)
    )


def kept(folder: Path) -> BoundRule:
    """A building rule whose reference is kept in ``folder``, written as the pipeline writes it."""
    return BoundRule(building(folder), "cam-1", folder)


def days_of(found: list[Finding]) -> list[tuple[str, float]]:
    """Each finding's phase and when it was observed, in days since T0 (3 decimals)."""
    return [(f.phase.value, at((f.observed_at - T0) / DAY)) for f in found]


def at(day: float, hour: float = 0.0) -> float:
    return round(day + hour / 24, 3)


def test_shed_that_stays_starts_on_the_third_check_with_before_and_after() -> None:
    found = play(building(), lambda day: Day(shed=day >= 2), 6)
    assert days_of(found) == [("start", at(4, 10))]
    start = found[0]
    assert start.started_at == T0 + 2 * DAY + 10 * 3600  # the first check that saw it
    assert [s.label for s in start.snapshots] == ["reference", "current"]
    assert start.snapshots[0].frame.ts == T0 + 10 * 3600  # the first 10:00 frame is the reference
    figures = details_of(start, IllegalBuildingDetails)
    assert figures.bbox is not None
    x1, y1, x2, y2 = figures.bbox
    sx, sy, sw, sh = SHED
    assert abs(x1 - sx / W) < 0.05
    assert abs(y1 - sy / H) < 0.05
    assert abs(x2 - (sx + sw) / W) < 0.05
    assert abs(y2 - (sy + sh) / H) < 0.05
    assert start.snapshots[1].boxes[0] == figures.bbox
    assert (figures.changed_ratio or 0) > 0.05
    assert start.clip_at is None


@pytest.mark.parametrize(
    ("case", "week"),
    [
        ("nothing changes", lambda day: CLEAR),
        ("a shed for two days only", lambda day: Day(shed=day in (2, 3))),
        ("a car parked at every check, detected and masked", lambda day: Day(car_at=(120, 90))),
        (
            "an undetected car in a new place at every check",
            lambda day: Day(car_at=(60 + 60 * day, 60 + 20 * (day % 3)), car_detected=False),
        ),
        (
            "the light changes every day",
            lambda day: Day(
                gain=(1.0, 0.6, 1.3, 0.8, 1.1, 0.7)[day],
                tint=((1, 1, 1), (1.1, 1, 0.9), (0.9, 1, 1.1))[day % 3],
            ),
        ),
        ("a cloud shadow at every check", lambda day: Day(shadow=0.55)),
    ],
)
def test_no_event(case: str, week: Week) -> None:
    assert play(building(), week, 6) == [], case


def test_shed_gone_for_persist_checks_ends_the_episode() -> None:
    found = play(building(), lambda day: Day(shed=2 <= day < 6), 10)
    assert days_of(found) == [("start", at(4, 10)), ("end", at(8, 10))]
    assert details_of(found[1], IllegalBuildingDetails).reason == "change gone"


def shed_from_day_2(day: int) -> Day:
    return Day(shed=day >= 2)


def test_reapproval_ends_the_episode_and_becomes_the_new_reference() -> None:
    rule = building()
    week = shed_from_day_2
    found = play(rule, week, 5)
    approved = week(5).frame(T0 + 5 * DAY + 8 * 3600).frame
    rule.approve_reference(approved)
    after = play_from(rule, week, 5, 10)
    assert [f.phase for f in found] == [Phase.start]
    assert [(f.phase, details_of(f, IllegalBuildingDetails).reason) for f in after] == [
        (Phase.end, "reference re-approved")
    ]
    assert details_of(after[0], IllegalBuildingDetails).reference_approved_by == "operator"


def play_from(rule: Watched, week: Week, first: int, last: int) -> list[Finding]:
    found: list[Finding] = []
    for day in range(first, last):
        found += look(rule, week(day).frame(T0 + day * DAY + 10 * 3600.0))
    return found


def test_reference_survives_a_restart(tmp_path: Path) -> None:
    week = shed_from_day_2
    folder = tmp_path / "illegal_building" / "cam-1" / "lot"
    play(kept(folder), week, 3)  # reference on day 0, the shed seen on day 2
    meta = json.loads((folder / "reference.json").read_text())
    assert meta["ts"] == T0 + 10 * 3600
    assert meta["approved_by"] == "first check"
    assert (folder / "reference.png").exists()
    restarted = kept(folder)
    found = play_from(restarted, week, 3, 6)  # a new process: days 3, 4, 5
    assert [f.phase for f in found] == [Phase.start]
    assert found[0].snapshots[0].frame.ts == T0 + 10 * 3600  # still the day-0 reference


@pytest.mark.parametrize("tracker_id", [1, -1], ids=["tracked", "untracked"])
def test_a_check_waits_for_a_usable_frame_within_its_window(tracker_id: int) -> None:
    """A 10:00 frame mostly hidden by a detected lorry, whether the tracker follows it or not (at one
    frame an hour it never would), is skipped; 10:30 serves; 13:00 is too late."""
    rule = building(max_hidden_ratio=0.3)
    lorry = Day(car_at=(40, 40))
    big = Detections(
        np.array([[30, 30, 300, 170]], np.float32),
        np.array([0.9], np.float32),
        np.array([2], np.int64),
        np.array([tracker_id], np.int64),
        NAMES,
    )
    found: list[Finding] = []
    for day in range(5):
        at, shed = T0 + day * DAY, Day(shed=day >= 1)
        found += look(rule, AnalysedFrame(lorry.frame(at + 10 * 3600).frame, big))
        if day != 2:  # on day 2 nothing usable arrives inside the window: that check is skipped
            found += look(rule, shed.frame(at + 10.5 * 3600))
        found += look(rule, shed.frame(at + 13 * 3600))
    assert [(f.phase, f.started_at, f.observed_at) for f in found] == [
        (Phase.start, T0 + 1 * DAY + 10.5 * 3600, T0 + 4 * DAY + 10.5 * 3600)
    ]


def test_dark_frames_are_not_used() -> None:
    found = play(building(), lambda day: Day(shed=day >= 1, gain=0.1 if day in (2, 3) else 1.0), 6)
    assert days_of(found) == [("start", at(5, 10))]


def test_close_ends_an_open_episode() -> None:
    rule = building()
    found = play(rule, lambda day: Day(shed=day >= 1), 5) + rule.close(T0 + 6 * DAY)
    assert [(f.phase, details_of(f, IllegalBuildingDetails).reason) for f in found] == [
        (Phase.start, None),
        (Phase.end, "input ended"),
    ]


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        ({"check_time": "25:00"}, "String should match pattern"),
        ({"check_every_s": 3600, "check_window_s": 7200}, "check_window_s .* must not exceed check_every_s"),
        ({"persist_checks": 0}, "greater than or equal to 1"),
        ({"min_changed_ratio": 0}, "greater than 0"),
    ],
)
def test_config_errors(overrides: dict[str, object], error: str) -> None:
    with pytest.raises(ValueError, match=error):
        IllegalBuildingConfig.model_validate(overrides)
