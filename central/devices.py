"""The registry of edge devices and their cameras: the centre's own record of where each camera is.

Until the centre manages camera records itself, they come from the devices, under one rule: a camera
id belongs to the first device that reports it (in a status or an event), and reports about it from
any other device are refused. Its device's status keeps the record's name and district; an event
never changes them, except that a camera's site (which status messages do not carry) is the first
one its own device's events name.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa
import structlog
from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy.orm import Session

from central.inserts import insert_if_absent
from central.models import Camera, Device
from contract.event import EARLIEST, LATEST, NO_NUL, CommonDetails
from contract.ids import ID_PATTERN
from contract.status import DeviceState, DeviceStatus, StorageHealth

log = structlog.get_logger(__name__)

UNREPORTED = "unknown"
"""The state of a device and camera known from an event before the device's status has described them."""


INT32 = 2**31 - 1
INT64 = 2**63 - 1


class StaleStatus(Exception):
    """A status older than the one already recorded (a retained copy arriving late)."""


def _in_contract_years(value: datetime | None) -> datetime | None:
    aware = _aware(value)
    if aware is not None and not EARLIEST <= aware < LATEST:
        raise ValueError(f"times must lie from {EARLIEST.year} up to {LATEST.year}")
    return value


class _RecordableCamera(BaseModel):
    model_config = ConfigDict(extra="ignore")

    camera_id: str = Field(min_length=1, max_length=128, pattern=ID_PATTERN)
    name: str | None = Field(default=None, max_length=256, pattern=NO_NUL)
    district: str | None = Field(default=None, max_length=64, pattern=NO_NUL)
    fps: float = Field(ge=0, allow_inf_nan=False)
    analysis_fps: float = Field(ge=0, allow_inf_nan=False)
    last_frame_at: datetime | None = None
    reconnects: int = Field(ge=0, le=INT32)
    last_error: str | None = Field(default=None, max_length=4000, pattern=NO_NUL)

    _years = field_validator("last_frame_at")(_in_contract_years)


class _RecordableStorage(BaseModel):
    model_config = ConfigDict(extra="ignore")

    free_bytes: int = Field(ge=0, le=INT64)
    evidence_bytes: int = Field(ge=0, le=INT64)


class RecordableStatus(BaseModel):
    """What the registry's columns can hold, on PostgreSQL as on SQLite: a status beyond it is refused
    whole (the status contract itself takes any text and number, as older edges send them)."""

    model_config = ConfigDict(extra="ignore")

    version: str | None = Field(default=None, max_length=64, pattern=NO_NUL)
    sent_at: datetime | None = None
    outbox_pending: int = Field(ge=0, le=INT32)
    cameras: list[_RecordableCamera]
    storage: _RecordableStorage | None = None

    _years = field_validator("sent_at")(_in_contract_years)


@dataclass(frozen=True)
class Sighting:
    """What a report says about a camera; it describes the record only when it is the camera's first report."""

    name: str | None = None
    district: str | None = None
    site: str | None = None

    @classmethod
    def of_details(cls, details: CommonDetails) -> Sighting:
        """What an edge puts in an event's details; values the record's columns cannot hold are ignored."""
        return cls(
            name=_text(details.camera_name, 256),
            district=_text(details.district, 64),
            site=_text(details.site, 128),
        )


def claim_camera(session: Session, device_id: str, camera_id: str, seen: Sighting, now: datetime) -> Camera:
    """The camera's record, pinned to ``device_id`` if no device has reported it before.

    The record may belong to another device: the caller then refuses the report. The inserts ignore
    conflicts, so replicas racing to record a new camera never fail: the loser reads the winner's row.
    """
    camera = _record_of(session, camera_id)
    if camera is None:
        insert_if_absent(
            session, Device, device_id=device_id, state=UNREPORTED, last_seen_at=now, outbox_pending=0
        )
        insert_if_absent(
            session,
            Camera,
            device_id=device_id,
            camera_id=camera_id,
            name=seen.name,
            district=seen.district,
            site=seen.site,
            state=UNREPORTED,
            fps=0.0,
            analysis_fps=0.0,
            reconnects=0,
            updated_at=now,
        )
        camera = _record_of(session, camera_id)
        if camera is None:
            raise RuntimeError(f"camera {camera_id} was neither recorded nor found")
    elif camera.device_id == device_id and camera.site is None and seen.site is not None:
        camera.site = seen.site
    return camera


@dataclass(frozen=True)
class Claim:
    """One report's claim on a camera: the reporting device, the camera, and what the report says of it."""

    device_id: str
    camera_id: str
    seen: Sighting


def claim_cameras(session: Session, claims: list[Claim], now: datetime) -> dict[str, Camera]:
    """The records of every camera the claims name, as ``claim_camera`` one claim after another would
    leave them, in one query when all are known.

    New cameras are inserted in the order of their ids, so replicas claiming overlapping sets wait for
    each other rather than deadlock.
    """
    ids = {claim.camera_id for claim in claims}
    cameras = {c.camera_id: c for c in session.scalars(sa.select(Camera).where(Camera.camera_id.in_(ids)))}
    first: dict[str, Claim] = {}
    for claim in claims:
        first.setdefault(claim.camera_id, claim)
    for camera_id in sorted(ids - cameras.keys()):
        cameras[camera_id] = claim_camera(
            session, first[camera_id].device_id, camera_id, first[camera_id].seen, now
        )
    for claim in claims:
        camera = cameras[claim.camera_id]
        if camera.device_id == claim.device_id and camera.site is None and claim.seen.site is not None:
            camera.site = claim.seen.site
    return cameras


def record_status(session: Session, device_id: str, status: DeviceStatus, now: datetime) -> list[str]:
    """Upsert the device and the cameras it reports; the last will (state only) just marks it offline.

    Returns the camera ids the status named that belong to another device (their health is not recorded).
    """
    sent_at = _aware(status.sent_at)
    device = session.get(Device, device_id)
    if device is None:
        device = Device(device_id=device_id, state=status.state.value, last_seen_at=now, outbox_pending=0)
        session.add(device)
        session.flush()
    elif sent_at is not None and device.sent_at is not None and sent_at < device.sent_at:
        raise StaleStatus(f"status of {device_id} sent at {sent_at} is older than {device.sent_at}")
    device.state = status.state.value
    if status.state is DeviceState.offline and status.device_id is None:
        return []
    device.last_seen_at = now
    device.version = status.version
    device.outbox_pending = status.outbox_pending
    device.sent_at = sent_at
    if status.storage is not None or status.state is not DeviceState.offline:
        _record_storage(device, status.storage)
    refused = []
    for health in status.cameras:
        camera = claim_camera(
            session, device_id, health.camera_id, Sighting(health.name, health.district), now
        )
        if camera.device_id != device_id:
            log.warning(
                "status names another device's camera; not recorded",
                device=device_id,
                camera=health.camera_id,
                owner=camera.device_id,
            )
            refused.append(health.camera_id)
            continue
        camera.name = health.name
        camera.district = health.district
        camera.state = health.state.value
        camera.fps = health.fps
        camera.analysis_fps = health.analysis_fps
        camera.last_frame_at = _aware(health.last_frame_at)
        camera.reconnects = health.reconnects
        camera.last_error = health.last_error
        camera.updated_at = now
    return refused


def _record_storage(device: Device, storage: StorageHealth | None) -> None:
    """An edge that does not report its disk (an older version) leaves it unknown, not the last reading.

    Offline statuses (the last will, an edge's clean stop) speak of the connection, not the disk, so
    ``record_status`` keeps the last reading for them.
    """
    device.storage_state = storage.state.value if storage else None
    device.storage_free_bytes = storage.free_bytes if storage else None
    device.storage_evidence_bytes = storage.evidence_bytes if storage else None


def _record_of(session: Session, camera_id: str) -> Camera | None:
    return session.scalar(sa.select(Camera).where(Camera.camera_id == camera_id))


def _text(value: str | None, limit: int) -> str | None:
    if value is not None and 0 < len(value) <= limit and "\x00" not in value:
        return value
    return None


def _aware(value: datetime | None) -> datetime | None:
    """Status times without a zone are taken as UTC, the contract's time zone."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)
