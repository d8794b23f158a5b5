"""What the API accepts and returns; these models are also the OpenAPI document."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from central.workflow import Action

MAX_ID = 2**63 - 1
"""The largest id either database can hold; bigger ones are refused before they reach it."""

NoNul = r"^[^\x00]*$"
"""PostgreSQL refuses NUL in text, so the API refuses it first, with a 422 instead of a 500."""

ShortText = Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=NoNul)]
LongText = Annotated[str, StringConstraints(max_length=4000, pattern=NoNul)]
TicketId = Annotated[int, Field(ge=1, le=MAX_ID)]


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class MediaOut(_Out):
    sha256: str
    kind: str
    content_type: str
    bytes: int
    label: str | None
    url: str = Field(description="Where to GET the file (bearer token; HTTP Range supported).")
    stored: bool = Field(description="False until the edge's upload has arrived.")


class EventOut(_Out):
    event_id: uuid.UUID
    phase: str
    type: str
    device_id: str
    camera_id: str
    zone_id: str
    episode_id: str | None
    started_at: datetime
    observed_at: datetime
    ended_at: datetime | None
    received_at: datetime
    confidence: float
    details: dict[str, Any]
    media: list[MediaOut]


class AuditOut(_Out):
    at: datetime
    actor: str
    role: str
    action: str
    from_status: str | None
    to_status: str
    comment: str | None


class TicketOut(_Out):
    id: int
    type: str
    status: str
    source: str
    department: str | None
    district: str | None
    device_id: str | None
    camera_id: str | None
    zone_id: str | None
    site: str | None
    description: str
    address: str | None
    lat: float | None
    lon: float | None
    opened_at: datetime
    updated_at: datetime
    first_seen_at: datetime
    last_seen_at: datetime
    event_count: int
    dispatched_at: datetime | None
    sign_by: datetime | None
    resolve_by: datetime | None
    accepted_at: datetime | None
    resolved_at: datetime | None
    closed_at: datetime | None
    duplicate_of: int | None
    overdue: bool = Field(default=False, description="Past its sign-for or resolve deadline.")


class TicketDetail(TicketOut):
    events: list[EventOut]
    history: list[AuditOut]


class TicketPage(BaseModel):
    total: int
    limit: int
    offset: int
    items: list[TicketOut]


class ActionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    action: Action
    comment: LongText | None = Field(default=None, description="Reason or feedback; some actions need one.")
    duplicate_of: TicketId | None = Field(
        default=None, description="For mark_duplicate: the ticket repeated."
    )
    department: ShortText | None = Field(default=None, description="For dispatch: overrides the routed one.")


class CameraOut(_Out):
    device_id: str
    camera_id: str
    name: str | None
    district: str | None
    state: str
    fps: float
    analysis_fps: float
    last_frame_at: datetime | None
    reconnects: int
    last_error: str | None
    updated_at: datetime


class StorageOut(_Out):
    state: str = Field(
        description="ok; low: evidence is evicted for space; full: events go without evidence."
    )
    free_bytes: int = Field(description="Free on the edge's evidence disk.")
    evidence_bytes: int = Field(description="Evidence (snapshots, clips) kept on the edge.")


class DeviceOut(_Out):
    device_id: str
    state: str
    version: str | None
    outbox_pending: int
    sent_at: datetime | None
    last_seen_at: datetime
    storage: StorageOut | None = Field(
        description="The evidence disk as the latest status reported it; "
        "null when the edge does not report it (older versions)."
    )
    cameras: list[CameraOut]


class DepartmentStats(BaseModel):
    department: str
    name: str
    open: int = Field(description="Tickets not yet closed, rejected or marked duplicate.")
    overdue: int = Field(description="Open tickets past a deadline now.")
    resolved: int = Field(description="Tickets it resolved (in the window).")
    on_time_rate: float | None = Field(description="Share of those resolved by their deadline; null if none.")
    median_hours_to_close: float | None = Field(description="From dispatch to close; null if none closed.")


class IngestStats(BaseModel):
    counts: dict[str, int] = Field(description="Messages handled by this replica since start, by outcome.")
    subscribed: bool
