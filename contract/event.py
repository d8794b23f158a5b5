"""The event message: what an edge saw, published to ``.../devices/{id}/events``.

The envelope is typed, and so are the details: each event type has its own details model, picked by
the event's ``type`` (a union discriminated by the envelope's ``type``, since the wire keeps
``details`` a plain JSON object beside it). The keys both sides rely on (``episode_id``, the
camera's ``district``, ``site``, ``location`` ...) are fields of ``CommonDetails``; each type adds its
own (a parked vehicle's ``label`` and ``bbox``, a dust score ...).

Keys a details model does not name are kept, not refused, when the central service reads an event
(an older or newer edge may add one, and an event is never lost for it); they must still be plain
JSON. An edge builds its details with ``build_details``, which refuses them, so a key renamed on the
edge fails there at once instead of silently reaching the centre as an unknown one.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Final, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    FieldSerializationInfo,
    ValidationInfo,
    ValidatorFunctionWrapHandler,
    field_serializer,
    field_validator,
    model_validator,
)

from contract.event_types import EventType
from contract.ids import ID_PATTERN

__all__ = [
    "DETAILS",
    "SCHEMA",
    "Box",
    "CommonDetails",
    "DustDetails",
    "Event",
    "EventDetails",
    "EventType",
    "IllegalBuildingDetails",
    "IllegalParkingDetails",
    "Location",
    "MediaKind",
    "MediaRef",
    "MissingMedia",
    "Phase",
    "build_details",
    "new_event_id",
]

SCHEMA: Final = "gridwatch.event/1"
NO_NUL = r"^[^\x00]*$"


class Phase(StrEnum):
    start = "start"
    update = "update"
    end = "end"


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
    for the clip): the edge lists these in ``details.missing_media``, so the envelope stays as it is."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    kind: MediaKind
    label: str | None = Field(default=None, max_length=64)
    reason: str = Field(max_length=500)


Box = tuple[float, float, float, float]
"""A box normalised to the frame: x1, y1, x2, y2 in 0..1."""


class Location(BaseModel):
    """Where the camera stands, as its edge configuration says."""

    model_config = ConfigDict(extra="ignore", frozen=True, allow_inf_nan=False)

    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)


class CommonDetails(BaseModel):
    """What every event's details carry: the episode and the camera as its edge knows it.

    The centre pairs an episode's events by ``episode_id``; the camera's name, district and site fill
    the centre's record of a camera it has not heard of, and ``location`` puts a ticket on the map.
    """

    model_config = ConfigDict(extra="allow", frozen=True, allow_inf_nan=False)

    episode_id: str | None = Field(
        default=None, description="Stable across one episode's start, updates and end."
    )
    camera_name: str | None = None
    district: str | None = None
    grid: str | None = None
    site: str | None = Field(default=None, description="Groups cameras that watch one construction site.")
    location: Location | None = None
    missing_media: list[MissingMedia] = Field(
        default_factory=list, max_length=32, description="Evidence the event should carry and does not."
    )

    @model_validator(mode="after")
    def _extra_is_plain_json(self) -> CommonDetails:
        if self.model_extra and not _plain_json(self.model_extra):
            raise ValueError("details must be plain JSON: NaN and Infinity are not numbers")
        return self


class IllegalParkingDetails(CommonDetails):
    label: str | None = Field(default=None, description="The vehicle's class, e.g. car or truck.")
    track_id: int | None = None
    dwell_s: float | None = Field(default=None, description="How long it has stood in the zone.")
    dwell_threshold_s: float | None = None
    bbox: Box | None = Field(default=None, description="The vehicle's box, normalised.")


class DustDetails(CommonDetails):
    dust_score: float | None = None
    parts: dict[str, float] | None = Field(default=None, description="The score's cues (haze, contrast ...).")
    reference_score: float | None = Field(default=None, description="The score of the clean baseline.")
    threshold: float | None = None
    duration_s: float | None = None
    peak_score: float | None = Field(default=None, description="The highest score of the episode (end).")
    reason: str | None = Field(default=None, description="Why the episode ended.")


class IllegalBuildingDetails(CommonDetails):
    changed_ratio: float | None = None
    min_changed_ratio: float | None = None
    persist_checks: int | None = None
    bbox: Box | None = Field(default=None, description="The largest changed region, normalised.")
    regions: list[Box] | None = Field(default=None, description="Every changed region, normalised.")
    reference_since: str | None = None
    reference_approved_by: str | None = None
    reason: str | None = Field(default=None, description="Why the episode ended.")


EventDetails = IllegalParkingDetails | DustDetails | IllegalBuildingDetails

DETAILS: Final[Mapping[EventType, type[EventDetails]]] = {
    EventType.illegal_parking: IllegalParkingDetails,
    EventType.dust: DustDetails,
    EventType.illegal_building: IllegalBuildingDetails,
}
"""Each type's details model: what ``Event`` validates ``details`` against, chosen by ``type``."""


def build_details(event_type: EventType, values: Mapping[str, Any]) -> EventDetails:
    """The details of an event of ``event_type`` as an edge builds them: unknown keys are an error.

    The centre keeps keys it does not know (an older edge may send them); the edge must not make
    any, or a renamed key would pass unnoticed.
    """
    details = DETAILS[event_type].model_validate(values)
    if details.model_extra:
        raise ValueError(
            f"{event_type.value} details have no keys {sorted(details.model_extra)} "
            f"(known: {', '.join(DETAILS[event_type].model_fields)})"
        )
    return details


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
    details: EventDetails = Field(default_factory=dict, validate_default=True)
    media: list[MediaRef] = Field(default_factory=list, max_length=32)

    _check_started = field_validator("started_at", "observed_at")(_utc)

    @field_validator("ended_at")
    @classmethod
    def _check_ended(cls, value: datetime | None) -> datetime | None:
        return None if value is None else _utc(value)

    @field_validator("details", mode="wrap")
    @classmethod
    def _details_of_type(cls, value: Any, handler: ValidatorFunctionWrapHandler, info: ValidationInfo) -> Any:
        """The details model is the one of the event's ``type`` (validated before ``details``)."""
        event_type = info.data.get("type")
        if event_type is None:  # the type itself is wrong, and said so; the details cannot be judged
            return handler(value)
        return DETAILS[event_type].model_validate(value)

    @field_serializer("details")
    def _details_as_sent(self, details: EventDetails, info: FieldSerializationInfo) -> dict[str, Any]:
        """The keys the sender gave (the unknown ones too), and no others: what came in goes out."""
        return details.model_dump(mode=info.mode, exclude_unset=True)

    def details_json(self) -> dict[str, Any]:
        """The details as a JSON object, as they travel and are stored."""
        return self.details.model_dump(mode="json", exclude_unset=True)

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
