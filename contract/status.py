"""The retained device status message and its last-will form."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

SCHEMA = "gridwatch.status/1"


class DeviceState(StrEnum):
    online = "online"
    offline = "offline"


class CameraState(StrEnum):
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


class StorageState(StrEnum):
    ok = "ok"
    low = "low"
    """Free space under twice the floor evidence keeps free: evidence is being evicted for space."""
    full = "full"
    """No evidence fits above the floor, or the outbox has spent its reserve: events go without evidence."""


class StorageHealth(BaseModel):
    """The edge's evidence and outbox disk (``storage.dir``)."""

    model_config = ConfigDict(extra="ignore")

    state: StorageState
    free_bytes: int = Field(ge=0, description="Free on the file system, for an unprivileged writer.")
    evidence_bytes: int = Field(ge=0, description="Evidence (snapshots, clips) kept on the edge.")


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
    storage: StorageHealth | None = None

    def to_json(self) -> str:
        return self.model_dump_json(by_alias=True)


OFFLINE_WILL = '{"state":"offline"}'
