"""RPC from the central service to an edge over MQTT v5: method names, bodies and error codes.

A request is published (QoS 1) on ``{prefix}/devices/{device_id}/rpc/{method}`` with a JSON object
body and the MQTT v5 properties ResponseTopic and CorrelationData; the edge answers on that
response topic, with the same correlation data, either ``{"ok": true, ...result}`` or
``{"ok": false, "error": "what went wrong, for a person", "code": "<ErrorCode>"}``. The response
topic is always in the device's own tree, ``{prefix}/devices/{device_id}/replies/{token}``
(``Topics.replies``), so the broker can let a device answer there and nowhere else.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from contract.ids import ID_PATTERN

WEBRTC_OFFER = "webrtc_offer"
WEBRTC_CLOSE = "webrtc_close"
SNAPSHOT = "snapshot"
APPROVE_REFERENCE = "approve_reference"

MAX_SDP = 64 * 1024
LiveMode = Literal["passthrough", "reencode"]


class ErrorCode(StrEnum):
    bad_request = "bad_request"
    unknown_method = "unknown_method"
    unknown_camera = "unknown_camera"
    unknown_session = "unknown_session"
    unknown_zone = "unknown_zone"
    """The camera has no zone of that id running the rule the request is for."""
    camera_unavailable = "camera_unavailable"
    """The camera is not streaming (dead, reconnecting) or has sent nothing recently."""
    viewer_limit = "viewer_limit"
    unsupported = "unsupported"
    """The browser's offer has no codec the edge can send."""
    timeout = "timeout"
    internal = "internal"


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class WebrtcOffer(_Body):
    camera_id: str = Field(min_length=1, max_length=128, pattern=ID_PATTERN)
    sdp: str = Field(min_length=1, max_length=MAX_SDP)
    type: Literal["offer"] = "offer"


class WebrtcAnswer(_Body):
    ok: Literal[True] = True
    sdp: str
    type: Literal["answer"] = "answer"
    session_id: str = Field(description="Names the viewing session for webrtc_close.")
    mode: LiveMode = Field(
        description="passthrough: the camera's own H.264; reencode: decoded and encoded again for this viewer."
    )


class WebrtcClose(_Body):
    session_id: str = Field(min_length=1, max_length=64)


class WebrtcClosed(_Body):
    ok: Literal[True] = True
    session_id: str


class SnapshotRequest(_Body):
    camera_id: str = Field(min_length=1, max_length=128, pattern=ID_PATTERN)


class SnapshotReply(_Body):
    ok: Literal[True] = True
    jpeg_base64: str
    taken_at: float = Field(description="When the frame arrived at the edge, epoch seconds.")
    width: int
    height: int


class ApproveReference(_Body):
    """An operator judged a building change legitimate: the zone's current view becomes its reference."""

    camera_id: str = Field(min_length=1, max_length=128, pattern=ID_PATTERN)
    zone_id: str = Field(min_length=1, max_length=128, pattern=ID_PATTERN)
    approved_by: str = Field(min_length=1, max_length=128)


class ReferenceApproved(_Body):
    ok: Literal[True] = True
    camera_id: str
    zone_id: str
    reference_taken_at: float = Field(
        description="When the frame that is now the reference was taken, epoch seconds."
    )


class RpcFailure(_Body):
    ok: Literal[False] = False
    error: str
    code: ErrorCode
