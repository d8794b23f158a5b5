"""The change gate on real footage: an empty car-park aisle, the same aisle in other light, a car arriving."""

from __future__ import annotations

import threading
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from edge.analysis.change import ChangeGate, bounding_box
from edge.analysis.detector import Detector
from edge.capture.frames import Frame
from edge.capture.reader import Reader
from edge.config import ChangeConfig, ModelConfig, ReaderConfig
from edge.delivery.health import CameraHealthTracker
from tests.support.paths import MEDIA

AISLE = [(0.0, 0.3), (1.0, 0.3), (1.0, 1.0), (0.0, 1.0)]
"""carpark_aisle.mp4: the aisle is empty from 1.5 s to 4.5 s of the clip; a white car is in it at 6 s."""


@pytest.fixture(scope="module")
def aisle() -> dict[float, Frame]:
    """Frames of carpark_aisle.mp4 (12.5 fps) every 0.4 s, by media time."""
    reader = Reader(
        "cam-aisle",
        str(MEDIA / "carpark_aisle.mp4"),
        ReaderConfig(keyframes_only=False),
        analysis_fps=2.5,
        live=False,
        health=CameraHealthTracker("cam-aisle"),
        start_ts=0.0,
    )
    return {round(f.ts, 1): f for f in reader.frames(threading.Event()) if f.ts <= 8.0}


def gate(**settings: float) -> ChangeGate:
    return ChangeGate([bounding_box(AISLE)], ChangeConfig.model_validate(settings))


def relit(frame: Frame, gain: float, offset: float, ts: float) -> Frame:
    image = np.clip(frame.image.astype(np.float32) * gain + offset, 0, 255).astype(np.uint8)
    return replace(frame, image=image, ts=ts)


def test_the_first_frame_and_a_car_arriving_need_the_detector(aisle: dict[float, Frame]) -> None:
    changes = gate()

    assert changes.needs_detector(aisle[2.0])
    assert changes.needs_detector(aisle[6.0]), "a car entering the aisle is a change"
    assert changes.skipped == 0


def test_an_unchanged_zone_skips_the_detector_until_max_skip_s(aisle: dict[float, Frame]) -> None:
    changes = gate(max_skip_s=1.2)

    assert changes.needs_detector(aisle[1.6])
    assert not changes.needs_detector(aisle[2.0])
    assert not changes.needs_detector(aisle[2.4])
    assert changes.needs_detector(aisle[2.8]), "1.2 s after the detector last looked, it looks again"
    assert not changes.needs_detector(aisle[3.2])
    assert changes.skipped == 3


@pytest.mark.parametrize(("gain", "offset"), [(0.6, 5.0), (1.3, -20.0), (1.0, 30.0)])
def test_light_drift_is_no_change(aisle: dict[float, Frame], gain: float, offset: float) -> None:
    """Dusk, a cloud, the camera's gain: the whole view darker or brighter, nothing in it moved."""
    changes = gate()
    assert changes.needs_detector(aisle[2.0])

    assert not changes.needs_detector(relit(aisle[3.2], gain, offset, ts=3.2))
    assert changes.needs_detector(relit(aisle[6.0], gain, offset, ts=6.0)), (
        "the car still counts in that light"
    )


def test_a_change_outside_every_zone_is_no_change(aisle: dict[float, Frame]) -> None:
    """The car comes down the middle of the aisle; a zone over its left quarter does not see it."""
    changes = ChangeGate([(0.0, 0.3, 0.25, 1.0)], ChangeConfig())
    assert changes.needs_detector(aisle[2.0])

    assert not changes.needs_detector(aisle[6.0])


def test_disabled_the_detector_sees_every_frame(aisle: dict[float, Frame]) -> None:
    changes = gate(enabled=False)

    assert all(changes.needs_detector(aisle[ts]) for ts in (2.0, 2.4, 2.8))
    assert changes.skipped == 0


def test_zone_boxes_follow_their_polygons(shared_media: Path) -> None:
    assert bounding_box([(0.1, 0.5), (0.9, 0.45), (0.7, 0.95)]) == (0.1, 0.45, 0.9, 0.95)


def test_where_nothing_changed_the_last_detections_stand(aisle: dict[float, Frame], model_path: Path) -> None:
    detector = Detector(ModelConfig(path=str(model_path)))
    changes = gate()

    empty = changes.detect(aisle[2.0], detector.detect)
    assert changes.detect(aisle[2.4], detector.detect) is empty, "no change: no inference"
    arrived = changes.detect(aisle[6.0], detector.detect)
    assert arrived is not empty
    assert len(arrived) > len(empty), "the car, seen from above (the model may call it anything)"
    assert changes.skipped == 1
