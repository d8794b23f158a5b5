"""illegal_parking: a vehicle that stays put inside a no-parking zone for ``dwell_s``."""

from __future__ import annotations

from pydantic import Field

from edge.configbase import StrictModel

DEFAULT_CLASSES = ("car", "truck", "bus", "motorcycle")


class IllegalParkingConfig(StrictModel):
    dwell_s: float = Field(default=300.0, gt=0, description="Seconds a vehicle must stay before an event starts.")
    classes: list[str] = Field(
        default_factory=lambda: list(DEFAULT_CLASSES),
        min_length=1,
        description="Detector class names that count as vehicles.",
    )
    move_tolerance: float = Field(
        default=0.5,
        gt=0,
        description=(
            "How far the box anchor may drift from where the vehicle settled, as a fraction of the box's "
            "own height, before the dwell clock restarts (absorbs camera jitter and box noise)."
        ),
    )
    grace_s: float = Field(
        default=10.0, ge=0, description="Seconds a vehicle must be gone before the event ends."
    )
    min_confidence: float = Field(default=0.3, ge=0, le=1, description="Detections below this are ignored.")
