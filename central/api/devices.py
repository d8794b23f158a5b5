"""``/api/v1/devices`` and ``/api/v1/cameras``: the registry built from device status messages.

Department staff see only the cameras of the districts their department gets tickets from, and
only the devices that have such a camera; admins and operators see all (``central.visibility``).
A camera id belongs to the first device that reported it; an admin releases it when the camera
moves to another box, and the next device to report it owns it.
"""

from __future__ import annotations

from typing import Annotated

import sqlalchemy as sa
import structlog
from fastapi import APIRouter, Depends, HTTPException, Path, Response, status
from sqlalchemy.orm import selectinload

from central.api.deps import Reader, ServicesDep, SessionDep, require
from central.api.schemas import CameraOut, DeviceOut
from central.auth import Principal, Role
from central.models import Camera, Device
from central.visibility import visible_cameras
from contract.ids import ID_PATTERN

log = structlog.get_logger(__name__)
router = APIRouter(prefix="/api/v1", tags=["devices"])
Admin = Annotated[Principal, Depends(require(Role.admin))]
CameraId = Annotated[str, Path(min_length=1, max_length=128, pattern=ID_PATTERN)]


@router.get("/devices", response_model=list[DeviceOut], summary="Edge devices with their cameras' health")
def list_devices(principal: Reader, services: ServicesDep, session: SessionDep) -> list[DeviceOut]:
    visible = visible_cameras(principal, services.router)
    if visible is None:
        query = sa.select(Device).options(selectinload(Device.cameras))
    else:
        query = (
            sa.select(Device)
            .where(Device.cameras.any(visible))
            .options(selectinload(Device.cameras.and_(visible)))
        )
    devices = session.scalars(query.order_by(Device.device_id)).all()
    return [DeviceOut.model_validate(d) for d in devices]


@router.get("/cameras", response_model=list[CameraOut], summary="The cameras devices reported")
def list_cameras(principal: Reader, services: ServicesDep, session: SessionDep) -> list[CameraOut]:
    visible = visible_cameras(principal, services.router)
    query = sa.select(Camera) if visible is None else sa.select(Camera).where(visible)
    cameras = session.scalars(query.order_by(Camera.device_id, Camera.camera_id)).all()
    return [CameraOut.model_validate(c) for c in cameras]


@router.delete(
    "/cameras/{camera_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Release a camera id from its device, e.g. after the camera moved to another box",
    responses={404: {"description": "No device reported this camera"}},
)
def release_camera(camera_id: CameraId, principal: Admin, session: SessionDep) -> Response:
    with session.begin():
        camera = session.scalar(sa.select(Camera).where(Camera.camera_id == camera_id))
        if camera is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no device reported camera {camera_id}")
        session.delete(camera)
    log.warning(
        "camera released from its device", camera=camera_id, device=camera.device_id, by=principal.name
    )
    return Response(status_code=status.HTTP_204_NO_CONTENT)
