"""The event message: what an edge saw, published to ``.../devices/{id}/events``."""

from __future__ import annotations

import math
import uuid
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from contract.ids import ID_PATTERN

SCHEMA: Final = "gridwatch.event/1"
NO_NUL = r"^[^\x00]*$"


class Phase(StrEnum):
    start = "start"
    update = "update"
    end = "end"


class EventType(StrEnum):
    illegal_parking = "illegal_parking"
    dust = "dust"
    illegal_building = "illegal_building"


class MediaKind(StrEnum):
    snapshot = "snapshot"
    clip = "clip"


class MediaRef(BaseModel):
    """A piece of evidence, named by the SHA-256 of its bytes and uploaded separately."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: MediaKind
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    bytes: int = Field(ge=0, le=2**63 - 1)
    content_type: Literal["image/jpeg", "video/mp4"]
    label: str | None = Field(
        default=None,
        max_length=64,
        pattern=NO_NUL,
        description="What the snapshot shows, e.g. 'arrival' or 'dwell'.",
    )


class MissingMedia(BaseModel):
    """Evidence an event should carry and does not, and why (no space left on the edge, no video
    for the clip): the edge lists these in ``details["missing_media"]``, so the schema stays as it is."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    kind: MediaKind
    label: str | None = Field(default=None, max_length=64)
    reason: str = Field(max_length=500)


EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
"""An edge whose clock fell back to the epoch still gets its events filed (a wrong time beats a lost event)."""
LATEST = datetime(2100, 1, 1, tzinfo=UTC)
"""Before datetime's own limits, so that converting a zone or adding the merge window never overflows."""


def _utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("timestamps must carry a time zone (ISO 8601 with Z or +00:00)")
    if not EARLIEST <= value < LATEST:
        raise ValueError(f"timestamps must lie from {EARLIEST.year} up to {LATEST.year}")
    return value.astimezone(UTC)


class Event(BaseModel):
    """One observation of a problem; ``event_id`` is made once and kept across retries."""

    model_config = ConfigDict(extra="forbid")

    schema_: Literal["gridwatch.event/1"] = Field(default=SCHEMA, alias="schema")
    event_id: uuid.UUID
    phase: Phase
    type: EventType
    device_id: str = Field(min_length=1, max_length=128, pattern=ID_PATTERN)
    camera_id: str = Field(min_length=1, max_length=128, pattern=ID_PATTERN)
    zone_id: str = Field(min_length=1, max_length=128, pattern=ID_PATTERN)
    started_at: datetime
    observed_at: datetime
    ended_at: datetime | None = None
    confidence: float = Field(ge=0.0, le=1.0)
    details: dict[str, Any] = Field(default_factory=dict)
    media: list[MediaRef] = Field(default_factory=list, max_length=32)

    _check_started = field_validator("started_at", "observed_at")(_utc)

    @field_validator("ended_at")
    @classmethod
    def _check_ended(cls, value: datetime | None) -> datetime | None:
        return None if value is None else _utc(value)

    @field_validator("details")
    @classmethod
    def _check_details(cls, value: dict[str, Any]) -> dict[str, Any]:
        if not _plain_json(value):
            raise ValueError("details must be plain JSON: NaN and Infinity are not numbers")
        return value

    def to_json(self) -> str:
        return self.model_dump_json(by_alias=True)

    @classmethod
    def from_json(cls, payload: bytes | str) -> Event:
        return cls.model_validate_json(payload)


def _plain_json(value: Any) -> bool:
    """False if a float inside is NaN or infinite, which JSON (and PostgreSQL's json type) cannot hold.

    Iterative, so a deeply nested value cannot exhaust the stack.
    """
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, float) and not math.isfinite(item):
            return False
        if isinstance(item, dict):
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
    return True


def new_event_id() -> uuid.UUID:
    return uuid.uuid4()
