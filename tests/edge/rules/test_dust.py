"""dust on synthetic frames: a textured scene veiled by the scattering model I = J*t + A*(1 - t).

Time comes from the frames (one a second), so a minute of dust takes milliseconds.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from contract.event import DustDetails, Phase
from edge.analysis.detections import Detections
from edge.analysis.zones import Zone
from edge.capture.frames import Frame
from edge.rules.base import AnalysedFrame, Finding
from edge.rules.context import RuleContext
from edge.rules.dust import Dust, DustConfig
from tests.edge.rules.findings import details_of

W, H = 320, 180
ZONE = Zone.from_points("site", [(0.0, 0.0), (0.5, 0.0), (0.5, 0.6), (0.0, 0.6)])
DUST = (150.0, 185.0, 215.0)  # BGR: yellow-brown airlight
FOG = (205.0, 205.0, 205.0)


def _scene(seed: int = 7) -> np.ndarray:
    """A clean view with detail everywhere: coloured blocks over a mottled ground."""
    rng = np.random.default_rng(seed)
    image = rng.normal(100, 18, (H, W, 3)).clip(0, 255).astype(np.float32)
    for _ in range(160):
        x, y, w, h = rng.integers(0, W), rng.integers(0, H), rng.integers(4, 28), rng.integers(4, 20)
        image[y : y + h, x : x + w] = rng.uniform(20, 230, 3)
    return image


SCENE = _scene()
ZONE_MASK = ZONE.mask(W, H)[..., None] > 0

Look = Callable[[float], np.ndarray]
"""Media time -> the BGR frame at that time."""


def clean(t: float) -> np.ndarray:
    return SCENE


def veil(
    t_min: float, start: float, end: float, airlight: tuple[float, float, float], zone_only: bool
) -> Look:
    """Transmission falls to ``t_min`` between ``start`` and ``end`` (a 5 s ramp each way)."""

    def look(t: float) -> np.ndarray:
        ramp = float(np.clip(min(t - start, end - t) / 5.0, 0.0, 1.0))
        transmission = 1.0 - (1.0 - t_min) * ramp
        veiled = SCENE * transmission + np.array(airlight, np.float32) * (1.0 - transmission)
        return np.where(ZONE_MASK, veiled, SCENE) if zone_only else veiled

    return look


def lit(gain: float, tint: tuple[float, float, float], start: float) -> Look:
    return lambda t: SCENE * np.array(tint, np.float32) * gain if t >= start else SCENE


def then(first: Look, at: float, second: Look) -> Look:
    return lambda t: first(t) if t < at else second(t)


NOISE = np.random.default_rng(1).normal(0, 2, (5, H, W, 3)).astype(np.float32)
"""Sensor noise, a few frames' worth, cycled."""


def play(rule: Dust, look: Look, seconds: int, close: bool = False) -> list[Finding]:
    found: list[Finding] = []
    for t in range(seconds):
        noisy = (look(float(t)) + NOISE[t % len(NOISE)]).clip(0, 255).astype(np.uint8)
        found += rule.update(AnalysedFrame(Frame(noisy, float(t)), Detections.empty())).findings
    return found + (rule.close(float(seconds)) if close else [])


def dust_rule(**overrides: object) -> Dust:
    config = DustConfig.model_validate({"min_duration_s": 20, "grace_s": 10, **overrides})
    return Dust(ZONE, config, RuleContext("cam-1"))


def phases(found: list[Finding]) -> list[tuple[str, float]]:
    return [(f.phase.value, f.observed_at) for f in found]


def test_dust_in_the_zone_starts_after_min_duration_and_ends_after_grace() -> None:
    found = play(dust_rule(), veil(0.45, 20, 70, DUST, zone_only=True), 100)
    assert [f.phase for f in found] == [Phase.start, Phase.end]
    start, end = found
    assert 20 <= start.started_at <= 32
    assert start.observed_at - start.started_at >= 20
    figures = details_of(start, DustDetails)
    assert (figures.dust_score or 0) >= 0.5
    assert figures.reference_score is not None
    assert figures.reference_score < 0.1
    assert set(figures.parts or {}) == {"haze", "contrast_loss", "warm_cast"}
    assert [s.label for s in start.snapshots] == ["onset", "dust"]
    assert start.clip_at == start.observed_at
    assert end.ended_at is not None
    assert 65 <= end.ended_at <= 78
    assert end.episode == start.episode
    assert details_of(end, DustDetails).reason == "cleared"


@pytest.mark.parametrize(
    ("case", "look", "seconds"),
    [
        ("clean all along", clean, 80),
        ("dust shorter than min_duration_s", veil(0.45, 20, 38, DUST, zone_only=True), 80),
        ("a thin veil stays under the threshold", veil(0.85, 20, 70, DUST, zone_only=True), 80),
        ("fog over the whole view is weather", veil(0.35, 20, 70, FOG, zone_only=False), 80),
        (
            "dusty-coloured haze over the whole view is weather too",
            veil(0.45, 20, 70, DUST, zone_only=False),
            80,
        ),
        ("the light drops and warms (dusk)", lit(0.6, (0.8, 0.95, 1.15), 20), 80),
        ("the light brightens (sun out)", lit(1.3, (1.0, 1.0, 1.0), 20), 80),
        (
            "night: dust that cannot be measured does not fire",
            then(clean, 15, lambda t: veil(0.45, 15, 80, DUST, zone_only=True)(t) * 0.1),
            80,
        ),
    ],
)
def test_no_event(case: str, look: Look, seconds: int) -> None:
    assert phases(play(dust_rule(), look, seconds)) == [], case


def test_a_flickering_plume_keeps_its_clock() -> None:
    """Gusts clear the zone for a second now and then; the running average rides over them."""
    dusty = veil(0.45, 10, 200, DUST, zone_only=True)
    found = play(dust_rule(), lambda t: SCENE if t % 7 == 0 else dusty(t), 60)
    assert [f.phase for f in found] == [Phase.start]


def test_nightfall_ends_an_open_episode_after_grace() -> None:
    dusty = veil(0.45, 15, 200, DUST, zone_only=True)
    found = play(dust_rule(), then(dusty, 60, lambda t: dusty(t) * 0.1), 90)
    assert [(f.phase, details_of(f, DustDetails).reason) for f in found] == [
        (Phase.start, None),
        (Phase.end, "low light"),
    ]


def test_no_scoring_before_the_baseline_warms_up() -> None:
    """A recording that starts dusty teaches the baseline dust: nothing fires, nothing is invented."""
    assert play(dust_rule(), veil(0.45, -10, 200, DUST, zone_only=True), 60) == []


def test_reference_polygon_names_the_weather_area() -> None:
    """A reference area inside the dusty part makes the zone's dust look like weather."""
    inside = [(0.05, 0.05), (0.45, 0.05), (0.45, 0.5), (0.05, 0.5)]
    found = play(dust_rule(reference_polygon=inside), veil(0.45, 20, 70, DUST, zone_only=True), 90)
    assert found == []


def test_close_ends_an_open_episode() -> None:
    found = play(dust_rule(), veil(0.45, 15, 200, DUST, zone_only=True), 60, close=True)
    assert [(f.phase, details_of(f, DustDetails).reason) for f in found] == [
        (Phase.start, None),
        (Phase.end, "input ended"),
    ]


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        ({"threshold": 1.5}, "less than 1"),
        ({"reference_polygon": [(0, 0), (1, 1)]}, "at least 3 points"),
        ({"reference_polygon": [(0, 0), (1.2, 0), (1, 1)]}, "outside 0..1"),
        ({"treshold": 0.5}, "Extra inputs are not permitted"),
    ],
)
def test_config_errors(overrides: dict[str, object], error: str) -> None:
    with pytest.raises(ValueError, match=error):
        DustConfig.model_validate(overrides)
