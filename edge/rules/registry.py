"""The registry of rules: ``ZoneRules`` lists every rule, one row each, and ``build_rules`` binds them to zones.

A row is ``key: Annotated[TheConfig | None, Builds(TheRule)] = None``: the key a zone's ``rules`` names
in the configuration, the config model it is validated with, and the class built from it as
``TheRule(zone, config, context)``. Adding a rule is adding its module, and its row (with the
import of its module) here.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Protocol, TypeVar

from contract.event import EventType
from contract.validation import StrictModel
from edge.analysis.zones import Zone
from edge.rules.base import Rule
from edge.rules.bound import BoundRule
from edge.rules.context import RuleContext
from edge.rules.dust import Dust, DustConfig
from edge.rules.illegal_building import IllegalBuilding, IllegalBuildingConfig
from edge.rules.illegal_parking import IllegalParking, IllegalParkingConfig

if TYPE_CHECKING:
    from edge.config import CameraConfig

ConfigT_contra = TypeVar("ConfigT_contra", bound=StrictModel, contravariant=True)


class RuleClass(Protocol[ConfigT_contra]):
    """How every rule is built: from its zone, its config and the context (mypy checks each row); the class
    names the event type its findings report."""

    @property
    def type(self) -> EventType: ...

    def __call__(self, zone: Zone, config: ConfigT_contra, context: RuleContext) -> Rule: ...


@dataclass(frozen=True)
class Builds:
    """A row's marker: the rule class its config builds."""

    rule: RuleClass[Any]


class ZoneRules(StrictModel):
    """The rules that watch one zone, each with its settings; a rule left out does not run there."""

    illegal_parking: Annotated[IllegalParkingConfig | None, Builds(IllegalParking)] = None
    dust: Annotated[DustConfig | None, Builds(Dust)] = None
    illegal_building: Annotated[IllegalBuildingConfig | None, Builds(IllegalBuilding)] = None


def zones_of(camera: CameraConfig) -> dict[str, Zone]:
    return {zone.id: Zone.from_points(zone.id, zone.polygon) for zone in camera.zones}


def build_rules(camera: CameraConfig, state_dir: Path | None = None) -> list[BoundRule]:
    """Every rule bound to every zone of one camera, in the rows' order. What a rule must keep across
    restarts (the building rule's reference images) lives under ``state_dir/key/camera/zone``; None keeps
    it in memory."""
    zones = zones_of(camera)
    rules: list[BoundRule] = []
    for zone_config in camera.zones:
        for key, config in zone_config.rules:
            if config is None:
                continue
            folder = state_dir / key / camera.id / zone_config.id if state_dir else None
            rule = _builds(key).rule(zones[zone_config.id], config, RuleContext(camera.id, folder))
            rules.append(BoundRule(rule, camera.id, folder))
    return rules


def event_type_of(key: str) -> EventType:
    """The event type a row's rule reports: its key names the configuration, not necessarily the type."""
    return _builds(key).rule.type


def _builds(key: str) -> Builds:
    marker = next((m for m in ZoneRules.model_fields[key].metadata if isinstance(m, Builds)), None)
    if marker is None:
        raise TypeError(
            f"ZoneRules.{key} names no rule class: write it as Annotated[Config | None, Builds(Rule)]"
        )
    return marker
