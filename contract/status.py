"""The retained device status message and its last-will form."""

from __future__ import annotations

from datetime import datetime
from enum import Enum

from pydantic import BaseModel, ConfigDict, Field

SCHEMA = "gridwatch.status/1"


class DeviceState(str, Enum):
    online = "online"
    offline = "offline"


class CameraState(str, Enum):
    connecting = "connecting"
    streaming = "streaming"
    backoff = "backoff"
    stopped = "stopped"


class CameraHealth(BaseModel):
    model_config = ConfigDict(extra="ignore")

    camera_id: str
    name: str | None = None
    district: str | None = None
    state: CameraState
    fps: float = Field(default=0.0, description="Frames received per second over the last interval.")
    analysis_fps: float = Field(default=0.0, description="Frames analysed per second over the last interval.")
    last_frame_at: datetime | None = None
    reconnects: int = 0
    last_error: str | None = None


class DeviceStatus(BaseModel):
    """Published retained; the last will carries only ``{"state": "offline"}``."""

    model_config = ConfigDict(extra="ignore")

    schema_: str = Field(default=SCHEMA, alias="schema")
    state: DeviceState
    device_id: str | None = None
    version: str | None = None
    sent_at: datetime | None = None
    outbox_pending: int = 0
    cameras: list[CameraHealth] = Field(default_factory=list)

    def to_json(self) -> str:
        return self.model_dump_json(by_alias=True)


OFFLINE_WILL = '{"state":"offline"}'
