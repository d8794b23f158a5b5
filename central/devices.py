"""The registry of edge devices and their cameras, kept from their retained status messages."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.orm import Session

from central.models import Camera, Device
from contract.status import DeviceState, DeviceStatus


class StaleStatus(Exception):
    """A status older than the one already recorded (a retained copy arriving late)."""


def record_status(session: Session, device_id: str, status: DeviceStatus, now: datetime) -> Device:
    """Upsert the device and the cameras it reports; the last will (state only) just marks it offline."""
    sent_at = _aware(status.sent_at)
    device = session.get(Device, device_id)
    if device is None:
        device = Device(device_id=device_id, state=status.state.value, last_seen_at=now, outbox_pending=0)
        session.add(device)
    elif sent_at is not None and device.sent_at is not None and sent_at < device.sent_at:
        raise StaleStatus(f"status of {device_id} sent at {sent_at} is older than {device.sent_at}")
    device.state = status.state.value
    if status.state is DeviceState.offline and status.device_id is None:
        return device
    device.last_seen_at = now
    device.version = status.version
    device.outbox_pending = status.outbox_pending
    device.sent_at = sent_at
    for health in status.cameras:
        camera = session.get(Camera, (device_id, health.camera_id))
        if camera is None:
            camera = Camera(device_id=device_id, camera_id=health.camera_id)
            session.add(camera)
        camera.name = health.name
        camera.district = health.district
        camera.state = health.state.value
        camera.fps = health.fps
        camera.analysis_fps = health.analysis_fps
        camera.last_frame_at = _aware(health.last_frame_at)
        camera.reconnects = health.reconnects
        camera.last_error = health.last_error
        camera.updated_at = now
    return device


def _aware(value: datetime | None) -> datetime | None:
    """Status times without a zone are taken as UTC, the contract's time zone."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)
