"""Live view: the browser's WebRTC offer goes to the camera's edge over MQTT RPC; its answer comes back.

The media then flow between the browser and the edge (through TURN where NAT demands it); the
central service only signals, through the services' RPC client (``Services.rpc``).
"""

from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path as PathLib
from typing import Annotated, Literal, TypeVar

import sqlalchemy as sa
from fastapi import APIRouter, HTTPException, Path, Query, Response, status
from fastapi.responses import FileResponse
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from central.api.deps import ServicesDep, Staff
from central.api.schemas import NoNul
from central.config import IceServer
from central.models import Camera, Device
from central.rpc import RpcFailed, RpcTimeout, RpcUnavailable
from central.services import Services
from contract.ids import ID_PATTERN
from contract.rpc import (
    MAX_SDP,
    SNAPSHOT,
    WEBRTC_CLOSE,
    WEBRTC_OFFER,
    ErrorCode,
    LiveMode,
    Method,
    RpcContractError,
    SnapshotRequest,
    WebrtcClose,
    WebrtcOffer,
)

RequestT = TypeVar("RequestT", bound=BaseModel)
AnswerT = TypeVar("AnswerT", bound=BaseModel)

router = APIRouter(tags=["live"])
STATIC = PathLib(__file__).resolve().parents[1] / "static"


def _style_hashes(page: PathLib) -> str:
    """CSP sources for the page's inline ``<style>`` blocks, so that no other inline style may apply."""
    blocks = re.findall(r"<style[^>]*>(.*?)</style>", page.read_text(encoding="utf-8"), flags=re.DOTALL)
    return " ".join(
        f"'sha256-{base64.b64encode(hashlib.sha256(b.encode()).digest()).decode()}'" for b in blocks
    )


CSP = (
    f"default-src 'self'; style-src 'self' {_style_hashes(STATIC / 'live.html')}; script-src 'self'; "
    "img-src 'self' data: blob:; media-src 'self' blob:; connect-src 'self'; object-src 'none'; "
    "base-uri 'none'; frame-ancestors 'self'; form-action 'self'"
)
"""The live page's Content-Security-Policy (applied by ``SecurityHeaders``); this origin may frame it."""

CameraId = Annotated[str, Path(min_length=1, max_length=128, pattern=ID_PATTERN)]
DeviceQuery = Annotated[
    str | None,
    Query(max_length=128, pattern=ID_PATTERN, description="The camera's device, when its id is not unique."),
]

_STATUS = {
    ErrorCode.unknown_camera: status.HTTP_404_NOT_FOUND,
    ErrorCode.unknown_session: status.HTTP_404_NOT_FOUND,
    ErrorCode.unknown_zone: status.HTTP_409_CONFLICT,
    ErrorCode.viewer_limit: status.HTTP_503_SERVICE_UNAVAILABLE,
    ErrorCode.camera_unavailable: status.HTTP_503_SERVICE_UNAVAILABLE,
    ErrorCode.unsupported: status.HTTP_422_UNPROCESSABLE_CONTENT,
    ErrorCode.bad_request: status.HTTP_422_UNPROCESSABLE_CONTENT,
    ErrorCode.timeout: status.HTTP_504_GATEWAY_TIMEOUT,
}
"""The edge's error codes as HTTP statuses; anything else is the edge's fault (502)."""

_ERRORS: dict[int | str, dict[str, str]] = {
    404: {"description": "No such camera (or session)"},
    409: {"description": "The camera's device is offline or did not answer"},
    422: {"description": "The offer cannot be answered (no usable codec)"},
    503: {"description": "Viewer limit reached, camera not streaming, or no broker connection"},
}


class LiveSettings(BaseModel):
    ice_servers: list[IceServer] = Field(description="Give these to `new RTCPeerConnection({iceServers})`.")


class OfferIn(BaseModel):
    sdp: str = Field(min_length=1, max_length=MAX_SDP, pattern=NoNul, description="The browser's SDP offer.")
    type: Literal["offer"] = "offer"


class AnswerOut(BaseModel):
    sdp: str
    type: Literal["answer"] = "answer"
    session_id: str
    device_id: str
    camera_id: str
    mode: LiveMode
    ice_servers: list[IceServer]


@router.get(
    "/api/v1/live/settings", response_model=LiveSettings, summary="What a browser needs before its offer"
)
def live_settings(_principal: Staff, services: ServicesDep) -> LiveSettings:
    return LiveSettings(ice_servers=services.config.live.ice_servers)


@router.post(
    "/api/v1/cameras/{camera_id}/webrtc",
    response_model=AnswerOut,
    responses=_ERRORS,
    summary="Open a camera's live view: send a WebRTC offer, get the edge's answer",
)
async def open_live_view(
    camera_id: CameraId,
    offer: OfferIn,
    _principal: Staff,
    services: ServicesDep,
    device_id: DeviceQuery = None,
) -> AnswerOut:
    device = await _device_of(services, camera_id, device_id)
    answer = await ask_edge(services, device, WEBRTC_OFFER, WebrtcOffer(camera_id=camera_id, sdp=offer.sdp))
    return AnswerOut(
        sdp=answer.sdp,
        session_id=answer.session_id,
        device_id=device,
        camera_id=camera_id,
        mode=answer.mode,
        ice_servers=services.config.live.ice_servers,
    )


@router.delete(
    "/api/v1/cameras/{camera_id}/webrtc/{session_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=_ERRORS,
    summary="Close a live view now (the edge also notices a closed tab by itself)",
)
async def close_live_view(
    camera_id: CameraId,
    session_id: Annotated[str, Path(max_length=64, pattern=r"^[\w-]+$")],
    _principal: Staff,
    services: ServicesDep,
    device_id: DeviceQuery = None,
) -> Response:
    device = await _device_of(services, camera_id, device_id)
    await ask_edge(services, device, WEBRTC_CLOSE, WebrtcClose(session_id=session_id))
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/api/v1/cameras/{camera_id}/snapshot",
    response_class=Response,
    responses={
        200: {"content": {"image/jpeg": {}}, "description": "The camera's latest analysed frame"},
        **_ERRORS,
    },
    summary="The camera's latest frame as a JPEG, fetched from its edge",
)
async def snapshot(
    camera_id: CameraId, _principal: Staff, services: ServicesDep, device_id: DeviceQuery = None
) -> Response:
    device = await _device_of(services, camera_id, device_id)
    answer = await ask_edge(services, device, SNAPSHOT, SnapshotRequest(camera_id=camera_id))
    return Response(
        base64.b64decode(answer.jpeg_base64),
        media_type="image/jpeg",
        headers={"Cache-Control": "no-store"},
    )


@router.get("/live", include_in_schema=False)
def live_page() -> FileResponse:
    """A self-contained page: token, camera, video (the console will embed live view later)."""
    return FileResponse(STATIC / "live.html", headers={"Cache-Control": "no-cache"})


@router.get("/live/live.js", include_in_schema=False)
def live_script() -> FileResponse:
    return FileResponse(
        STATIC / "live.js", media_type="text/javascript", headers={"Cache-Control": "no-cache"}
    )


async def _device_of(services: Services, camera_id: str, device_id: str | None) -> str:
    """The device that has the camera, if it is online; 404 or 409 with the reason otherwise."""
    rows = await run_in_threadpool(_cameras, services, camera_id, device_id)
    if not rows:
        where = f" on device '{device_id}'" if device_id else ""
        raise HTTPException(
            status.HTTP_404_NOT_FOUND, f"no camera '{camera_id}'{where} has been reported by a device"
        )
    if len(rows) > 1:
        devices = ", ".join(device for device, _ in rows)
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            f"camera '{camera_id}' is on several devices ({devices}); name one with ?device_id=",
        )
    [(device, state)] = rows
    if state != "online":
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            f"device '{device}' is offline, so camera '{camera_id}' cannot be shown live",
        )
    return device


def _cameras(services: Services, camera_id: str, device_id: str | None) -> list[tuple[str, str]]:
    query = sa.select(Camera.device_id, Device.state).join(Device).where(Camera.camera_id == camera_id)
    if device_id is not None:
        query = query.where(Camera.device_id == device_id)
    with services.sessions() as session:
        return [(device, state) for device, state in session.execute(query.order_by(Camera.device_id))]


async def ask_edge(
    services: Services, device: str, method: Method[RequestT, AnswerT], body: RequestT
) -> AnswerT:
    """The edge's answer, or its refusal as an HTTP error whose detail a person can read. An unknown
    method or an answer that does not fit is the edge's fault (502), like any code not in ``_STATUS``."""
    try:
        return await services.rpc.call(device, method, body)
    except RpcTimeout as err:
        raise HTTPException(status.HTTP_409_CONFLICT, str(err)) from err
    except RpcUnavailable as err:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, str(err)) from err
    except RpcFailed as err:
        raise HTTPException(_STATUS.get(err.code, status.HTTP_502_BAD_GATEWAY), err.message) from err
    except RpcContractError as err:
        raise HTTPException(status.HTTP_502_BAD_GATEWAY, err.message) from err
