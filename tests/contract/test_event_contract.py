"""The event contract: one catalogue of types, typed details per type, and the wire format kept.

Central code reads details as attributes (``event.details.episode_id``, ``details.location``), so
mypy --strict fails on a key renamed in the contract; ``build_details`` fails on a key the edge
renames without the contract, which the last tests here prove.
"""

from __future__ import annotations

import json
import math
import uuid
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from central.config import Route
from contract.event import (
    DETAILS,
    SCHEMA,
    DustDetails,
    Event,
    IllegalBuildingDetails,
    IllegalParkingDetails,
    MediaKind,
    MissingMedia,
    build_details,
)
from contract.event_types import CATALOGUE, EventType, MergeBy, info
from edge.config import ZoneConfig


def wire(type_: str = "illegal_parking", **details: Any) -> dict[str, Any]:
    """An event as an edge of the first schema sends it."""
    return {
        "schema": "gridwatch.event/1",
        "event_id": str(uuid.uuid4()),
        "phase": "start",
        "type": type_,
        "device_id": "box-1",
        "camera_id": "cam-1",
        "zone_id": "zone-1",
        "started_at": "2026-05-01T08:00:00Z",
        "observed_at": "2026-05-01T08:05:00Z",
        "ended_at": None,
        "confidence": 0.9,
        "details": details,
        "media": [],
    }


def test_the_catalogue_names_every_type_once_and_each_type_has_its_details_model() -> None:
    assert list(CATALOGUE) == list(EventType)
    assert set(DETAILS) == set(EventType)
    for key, entry in CATALOGUE.items():
        assert entry.key is key
        assert entry.names.en
        assert entry.names.zh
        assert entry.description
        assert entry.resolve_hours >= entry.sign_hours
    assert info("dust").merge_by is MergeBy.site
    assert info(EventType.illegal_parking).merge_by is MergeBy.zone
    with pytest.raises(ValueError, match="graffiti"):
        info("graffiti")


def test_the_edge_configures_a_rule_per_catalogued_type() -> None:
    rules = ZoneConfig.model_fields["rules"].annotation
    assert isinstance(rules, type)
    assert issubclass(rules, BaseModel)
    assert set(rules.model_fields) == {t.value for t in EventType}


def test_a_route_without_deadlines_takes_its_types_defaults() -> None:
    route = Route.model_validate({"type": "illegal_building", "department": "cg"})
    assert (route.sign_hours, route.resolve_hours) == (24, 168)
    own = Route.model_validate({"type": "dust", "department": "env", "sign_hours": 1, "resolve_hours": 2})
    assert (own.sign_hours, own.resolve_hours) == (1, 2)


@pytest.mark.parametrize(
    ("type_", "model", "details"),
    [
        (
            "illegal_parking",
            IllegalParkingDetails,
            {"label": "car", "track_id": 7, "dwell_s": 312.5, "bbox": [0.1, 0.2, 0.3, 0.4]},
        ),
        ("dust", DustDetails, {"dust_score": 0.61, "parts": {"haze": 0.5}, "threshold": 0.5}),
        (
            "illegal_building",
            IllegalBuildingDetails,
            {"changed_ratio": 0.08, "bbox": None, "regions": [], "reference_since": None},
        ),
    ],
)
def test_each_type_reads_its_own_details_and_sends_back_exactly_what_came(
    type_: str, model: type[Any], details: dict[str, Any]
) -> None:
    sent = wire(
        type_, episode_id="ep-1", district="chongchuan", location={"lat": 32.0, "lon": 120.9}, **details
    )
    event = Event.model_validate_json(json.dumps(sent))
    assert type(event.details) is model
    assert event.details.episode_id == "ep-1"
    assert event.details.location is not None
    assert event.details.location.lat == 32.0
    assert json.loads(event.to_json()) == json.loads(json.dumps(sent))
    assert event.schema_ == SCHEMA == "gridwatch.event/1"


def test_an_event_without_details_still_reads() -> None:
    event = Event.model_validate(wire("dust") | {"details": {}})
    assert isinstance(event.details, DustDetails)
    assert event.details.missing_media == []
    assert json.loads(event.to_json())["details"] == {}


def test_an_unknown_detail_key_from_an_older_edge_is_kept_not_refused() -> None:
    event = Event.model_validate_json(json.dumps(wire(label="car", old_key={"kept": [1, 2]})))
    assert event.details_json() == {"label": "car", "old_key": {"kept": [1, 2]}}


@pytest.mark.parametrize(
    "details",
    [
        {"dwell_s": math.nan},
        {"bbox": [0.1, 0.2, math.inf, 0.4]},
        {"location": {"lat": math.nan, "lon": 1.0}},
        {"old_key": [1.0, {"deep": -math.inf}]},
    ],
)
def test_nan_and_infinity_are_refused_in_typed_and_unknown_keys_alike(details: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        Event.model_validate(wire(**details))


@pytest.mark.parametrize(
    "details",
    [
        {"episode_id": ["e"]},
        {"site": {"x": 1}},
        {"bbox": [0.1, 0.2]},
        {"location": {"lat": 91, "lon": 0}},
        {"missing_media": [{"kind": "thumbnail", "reason": "x"}]},
    ],
)
def test_a_known_key_of_the_wrong_shape_is_refused(details: dict[str, Any]) -> None:
    with pytest.raises(ValidationError) as caught:
        Event.model_validate(wire(**details))
    assert caught.value.errors()[0]["loc"][0] == "details"


def test_details_of_another_type_are_refused() -> None:
    with pytest.raises(ValidationError, match="DustDetails"):
        Event.model_validate(wire("dust") | {"details": IllegalParkingDetails(label="car")})


def test_the_edge_builds_typed_details_and_they_travel_as_before() -> None:
    missing = MissingMedia(kind=MediaKind.clip, label="clip", reason="no space left")
    details = build_details(
        EventType.illegal_parking, {"label": "truck", "episode_id": "ep-2", "missing_media": [missing]}
    )
    event = Event.model_validate(wire() | {"details": details})
    assert event.details is details
    assert event.details_json() == {
        "label": "truck",
        "episode_id": "ep-2",
        "missing_media": [{"kind": "clip", "label": "clip", "reason": "no space left"}],
    }


@pytest.mark.parametrize(
    ("type_", "renamed"),
    [
        ("illegal_parking", {"episode": "ep-1"}),  # episode_id renamed: the centre could no longer pair
        ("illegal_parking", {"camera_district": "chongchuan"}),
        ("dust", {"score": 0.7}),
        ("illegal_building", {"box": [0.1, 0.1, 0.2, 0.2]}),
    ],
)
def test_a_key_renamed_on_the_edge_fails_where_the_edge_builds_the_event(
    type_: str, renamed: dict[str, Any]
) -> None:
    with pytest.raises(ValueError, match="have no keys"):
        build_details(EventType(type_), renamed)
