"""``/api/v1/devices`` and ``/api/v1/cameras``: the registry built from device status messages.

Department staff see only the cameras of the districts their department gets tickets from, and
only the devices that have such a camera (``Router.districts_of``); admins and operators see all.
"""

from __future__ import annotations

import sqlalchemy as sa
from fastapi import APIRouter
from sqlalchemy.orm import selectinload

from central.api.deps import Reader, ServicesDep, SessionDep
from central.api.schemas import CameraOut, DeviceOut
from central.auth import Principal, Role
from central.models import Camera, Device
from central.services import Services

router = APIRouter(prefix="/api/v1", tags=["devices"])


@router.get("/devices", response_model=list[DeviceOut], summary="Edge devices with their cameras' health")
def list_devices(principal: Reader, services: ServicesDep, session: SessionDep) -> list[DeviceOut]:
    visible = _visible_cameras(principal, services)
    if visible is None:
        query = sa.select(Device).options(selectinload(Device.cameras))
    else:
        query = sa.select(Device).where(Device.cameras.any(visible)).options(
            selectinload(Device.cameras.and_(visible)))
    devices = session.scalars(query.order_by(Device.device_id)).all()
    return [DeviceOut.model_validate(d) for d in devices]


@router.get("/cameras", response_model=list[CameraOut], summary="The cameras devices reported")
def list_cameras(principal: Reader, services: ServicesDep, session: SessionDep) -> list[CameraOut]:
    visible = _visible_cameras(principal, services)
    query = sa.select(Camera) if visible is None else sa.select(Camera).where(visible)
    cameras = session.scalars(query.order_by(Camera.device_id, Camera.camera_id)).all()
    return [CameraOut.model_validate(c) for c in cameras]


def _visible_cameras(principal: Principal, services: Services) -> sa.ColumnElement[bool] | None:
    """None for staff (everything); for department staff, the cameras of their department's districts."""
    if principal.role is not Role.department:
        return None
    return services.router.districts_of(principal.department or "").holds(Camera.district)
