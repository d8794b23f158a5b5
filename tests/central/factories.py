"""Wire-contract events and status messages for tests, built with the contract's own models."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from contract.event import Event, MediaRef
from contract.status import CameraHealth, CameraState, DeviceState, DeviceStatus
from tests.central.conftest import START


def event(
    phase: str = "start",
    type_: str = "illegal_parking",
    device: str = "box-1",
    camera: str = "cam-1",
    zone: str = "zone-1",
    at: datetime = START,
    media: list[MediaRef] | None = None,
    **details: Any,
) -> Event:
    """One event at ``at``; keyword arguments go into ``details`` (episode_id, district, site ...)."""
    return Event.model_validate(
        {
            "event_id": uuid.uuid4(),
            "phase": phase,
            "type": type_,
            "device_id": device,
            "camera_id": camera,
            "zone_id": zone,
            "started_at": at,
            "observed_at": at + timedelta(seconds=1),
            "ended_at": at + timedelta(seconds=2) if phase == "end" else None,
            "confidence": 0.9,
            "details": details,
            "media": media or [],
        }
    )


def episode(type_: str = "illegal_parking", at: datetime = START, **details: Any) -> list[Event]:
    """The start, update and end of one episode, sharing ``details.episode_id``."""
    episode_id = str(uuid.uuid4())
    return [
        event(phase, type_, at=at + timedelta(minutes=i), episode_id=episode_id, **details)
        for i, phase in enumerate(("start", "update", "end"))
    ]


def status(
    device: str = "box-1",
    district: str | None = "chongchuan",
    sent_at: datetime = START,
    state: DeviceState = DeviceState.online,
    camera: str = "cam-1",
) -> DeviceStatus:
    return DeviceStatus(
        state=state,
        device_id=device,
        version="0.1.0",
        sent_at=sent_at,
        outbox_pending=3,
        cameras=[
            CameraHealth(
                camera_id=camera,
                name="Renmin Rd east",
                district=district,
                state=CameraState.streaming,
                fps=25.0,
                analysis_fps=1.0,
                last_frame_at=sent_at,
                reconnects=2,
            )
        ],
    )
