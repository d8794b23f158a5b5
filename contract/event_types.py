"""The catalogue of event types: the one place a type is named, described and given its defaults.

The edge's rules, the central service's routing and merging, Open311's services and the console
(``GET /api/v1/event-types``) all read it, so adding a type is one ``EventType`` member and one entry
here (its details model lives in ``contract.event``).
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from types import MappingProxyType
from typing import Final

from pydantic import BaseModel, ConfigDict, Field


class EventType(StrEnum):
    illegal_parking = "illegal_parking"
    dust = "dust"
    illegal_building = "illegal_building"


class MergeBy(StrEnum):
    """What makes two sightings one problem, and so one ticket."""

    zone = "zone"
    """The same camera and zone: a parked car is where that camera sees it."""
    site = "site"
    """The same site of the same device: dust or a building is seen by every camera of the site."""


class Names(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    en: str = Field(min_length=1)
    zh: str = Field(min_length=1)


class EventTypeInfo(BaseModel):
    """One type as people and services see it; served to the console as it is."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    key: EventType
    names: Names
    description: str = Field(description="One sentence, in English, of what the edge saw.")
    merge_by: MergeBy = Field(description="Whether repeats merge by camera and zone, or by site.")
    sign_hours: float = Field(gt=0, description="Sign-for deadline of a route that names none.")
    resolve_hours: float = Field(gt=0, description="Resolve deadline of a route that names none.")

    @property
    def title(self) -> str:
        """Both names, for texts read in either language (ticket descriptions, Open311)."""
        return f"{self.names.en} ({self.names.zh})"


_ENTRIES = (
    EventTypeInfo(
        key=EventType.illegal_parking,
        names=Names(en="Illegal parking", zh="违停"),
        description="A vehicle parked in a no-parking zone beyond the allowed dwell time.",
        merge_by=MergeBy.zone,
        sign_hours=1,
        resolve_hours=4,
    ),
    EventTypeInfo(
        key=EventType.dust,
        names=Names(en="Construction dust", zh="扬尘"),
        description="Dust from a construction site or road works above the camera's clean baseline.",
        merge_by=MergeBy.site,
        sign_hours=4,
        resolve_hours=48,
    ),
    EventTypeInfo(
        key=EventType.illegal_building,
        names=Names(en="Illegal building", zh="违建"),
        description="An unapproved structure appearing against the approved reference image.",
        merge_by=MergeBy.site,
        sign_hours=24,
        resolve_hours=168,
    ),
)

CATALOGUE: Final[Mapping[EventType, EventTypeInfo]] = MappingProxyType({e.key: e for e in _ENTRIES})
"""Every type, in ``EventType``'s order; a test checks that each member has its entry."""


def info(event_type: EventType | str) -> EventTypeInfo:
    """The catalogue's entry; raises ValueError for a type the contract does not know."""
    return CATALOGUE[EventType(event_type)]
