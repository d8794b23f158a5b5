"""``/api/v1/devices`` and ``/api/v1/cameras``: the registry built from device status messages."""

from __future__ import annotations

import sqlalchemy as sa
from fastapi import APIRouter
from sqlalchemy.orm import selectinload

from central.api.deps import Reader, SessionDep
from central.api.schemas import CameraOut, DeviceOut
from central.models import Camera, Device

router = APIRouter(prefix="/api/v1", tags=["devices"])


@router.get("/devices", response_model=list[DeviceOut], summary="Edge devices with their cameras' health")
def list_devices(_principal: Reader, session: SessionDep) -> list[DeviceOut]:
    devices = session.scalars(sa.select(Device).options(selectinload(Device.cameras))
                              .order_by(Device.device_id)).all()
    return [DeviceOut.model_validate(d) for d in devices]


@router.get("/cameras", response_model=list[CameraOut], summary="Every camera any device reported")
def list_cameras(_principal: Reader, session: SessionDep) -> list[CameraOut]:
    cameras = session.scalars(sa.select(Camera).order_by(Camera.device_id, Camera.camera_id)).all()
    return [CameraOut.model_validate(c) for c in cameras]
